"""The composition root: settings, observability, and the adapters each function is given."""
