"""The use cases, and the ports (`ports.py`) through which they call the stores."""
