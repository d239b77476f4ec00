"""API types shared by the server, the Python client and the CLI (no I/O here)."""
