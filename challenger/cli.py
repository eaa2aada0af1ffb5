"""The `optimist` command line. Each package contributes its own click commands."""

from __future__ import annotations

import importlib

import click

# (module, attribute) of click commands/groups contributed by each package. A module that
# does not exist yet (work in progress) is skipped so the CLI keeps working.
COMMANDS: list[tuple[str, str]] = [
    ("challenger.doctor", "doctor"),
    ("mipsvm.cli", "vm"),
    ("minidnn.cli", "infer"),
    ("converter.cli", "convert"),
    ("converter.cli", "inspect"),
    ("challenger.chain_cli", "chain"),
    ("challenger.commands", "deploy"),
    ("challenger.commands", "register"),
    ("challenger.commands", "request"),
    ("challenger.commands", "status"),
    ("challenger.commands", "operator"),
    ("challenger.commands", "challenger"),
    ("challenger.demo", "demo"),
    ("challenger.bench", "bench"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="optimist")
def main() -> None:
    """optimist: optimistic, fraud-provable ML inference on Ethereum."""


def _register() -> None:
    for module_name, attr in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == module_name or module_name.startswith(exc.name + ".")):
                continue
            raise
        command = getattr(module, attr, None)
        if command is not None and attr not in main.commands:
            main.add_command(command, attr)


_register()

if __name__ == "__main__":
    main()
