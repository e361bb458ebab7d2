"""Redis adapters: numbering, pending bodies, token cache, quotas, Idempotency-Key records."""
