"""The runtime inside one execution environment: stdlib only, like AWS's /var/runtime."""
