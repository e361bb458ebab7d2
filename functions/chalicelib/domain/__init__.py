"""The records, events, errors and rules of the chat API: imports nothing of ours above it."""
