"""MySQL adapters, one per caller, on the connections of `mysql.py`."""
