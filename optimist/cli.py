"""The `optimist` command line: one click group; each command lives in optimist/commands/<name>.py."""

from __future__ import annotations

import importlib

import click

# command name -> module under optimist.commands that defines it (as an attribute of that name).
COMMANDS: dict[str, str] = {
    "doctor": "doctor",
    "convert": "convert",
    "inspect": "convert",
    "infer": "infer",
    "vm": "vm",
    "chain": "chain",
    "deploy": "deploy",
    "register": "deploy",
    "request": "request",
    "status": "request",
    "operator": "daemons",
    "challenger": "daemons",
    "demo": "demo",
    "bench": "bench",
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="optimist")
def main() -> None:
    """optimist: optimistic, fraud-provable ML inference on Ethereum."""


for _name, _module in COMMANDS.items():
    main.add_command(getattr(importlib.import_module(f"optimist.commands.{_module}"), _name), _name)

if __name__ == "__main__":
    main()
