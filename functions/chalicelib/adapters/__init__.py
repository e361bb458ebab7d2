"""The stores behind the ports, one package per store: drivers are imported only here."""
