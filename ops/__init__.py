"""Operator tools, run against a stack by `make audit` and `make reindex`; never deployed as handlers."""
