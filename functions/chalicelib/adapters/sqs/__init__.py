"""SQS adapter: the creation queue."""
