"""The entry points of the functions that serve no HTTP route, one module each: a function imports
only what it uses (app.py, with every route, is the API's alone)."""
