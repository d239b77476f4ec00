"""The `hearth` command line: main.py builds the app, one module per command group."""
