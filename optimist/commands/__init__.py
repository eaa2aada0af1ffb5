"""The `optimist` commands, one module per command or command group (see optimist/cli.py)."""
