"""The `optimist` command line: one click group; each command lives in optimist/commands/<module>.py.

Commands are imported only when run (the group lists them from COMMANDS without importing them),
so `optimist --help` and `--version` start in a fraction of a second.
"""

from __future__ import annotations

import importlib
import os

import click

# command name -> (module under optimist.commands defining an attribute of that name, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("doctor", "Check the toolchain: Python packages, zig cc (mipsel), unicorn, solc, anvil."),
    "convert": ("convert", "Convert an ONNX model (or a PyTorch module) to a minidnn .mdnn model."),
    "inspect": ("convert", "Show a .mdnn model: ops, parameters, MACs, content hash, estimated VM steps."),
    "infer": ("infer", "Run MODEL (.mdnn) natively on an input array and print the output."),
    "generate": ("generate", "Continue a text prompt with a character-level language model, inside one run "
                             "(native or --vm)."),
    "vm": ("vm", "Run programs and models in the MIPS VM; produce one-step proofs."),
    "chain": ("chain", "A local development chain (anvil from npm)."),
    "account": ("account", "Named encrypted keys for --account NAME (keystore directory, as cast's): new, import, "
                           "list."),
    "deploy": ("deploy", "Deploy MIPS.sol and the Optimist contract; write the deployment file."),
    "register": ("deploy", "Register MODEL (a .mdnn file) and print its model id."),
    "request": ("request", "Ask for MODEL_ID run on an input; prints the request id."),
    "status": ("request", "Show a request: its status, every result posted for it, every game on those results."),
    "cancel": ("request", "Cancel your unanswered request after its deadline; the fee is credited back (then "
                          "withdrawn)."),
    "request-batch": ("batch", "Ask for MODEL_ID run on many inputs in one transaction; prints the request "
                               "batch id and its entries."),
    "cancel-batch": ("batch", "Cancel the entries of your request batch nobody took, after its deadline; their "
                              "fees come back."),
    "operator": ("daemons", "Serve requests for the given models: post results with a bond, defend games, "
                            "finalize, withdraw."),
    "challenger": ("daemons", "Check every result of the given models; dispute wrong ones, play the games, "
                              "withdraw the bonds."),
    "abi": ("abi", "Print the ABI JSON of CONTRACT (Optimist, IOptimistConsumer, MIPS or DigitBounty; default "
                   "Optimist)."),
    "demo": ("demo", "The whole story on the embedded chain: honest results, a lie caught by a one-step proof."),
    "explorer": ("explorer", "Serve a read-only web page of models, requests, results, games, request batches, "
                             "batches and balances on 127.0.0.1."),
    "bench": ("bench", "Measure models, VM, proofs, gas and disputes on this machine."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"optimist.commands.{COMMANDS[cmd_name][0]}")
        return getattr(module, cmd_name.replace("-", "_"))

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; an unexpected exception is one line, not a traceback (unless --debug)."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug") or os.environ.get("OPTIMIST_DEBUG"):
                raise
            raise click.ClickException(f"internal error: {type(exc).__name__}: {exc} "
                                       "(rerun with --debug for the traceback, and please report it)") from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, click.utils.make_default_short_help(text, limit)) for name, (_, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


def config_defaults(command: click.Command, section: object, path: str) -> dict[str, object]:
    """A config file section ({option: value}, option as on the command line without dashes) as
    click defaults of `command`; unknown options are a usage error naming the valid ones."""
    if not isinstance(section, dict):
        raise click.UsageError(f"{path}: [{command.name}] must be a table of options")
    by_option: dict[str, str] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                by_option[opt.lstrip("-").replace("-", "_")] = param.name or ""
    defaults = {}
    for key, value in section.items():
        name = by_option.get(key.replace("-", "_"))
        if name is None:
            valid = ", ".join(sorted(k for k in by_option if len(k) > 1))
            raise click.UsageError(f"{path}: [{command.name}] has no option {key!r} (options: {valid})")
        defaults[name] = value
    return defaults


def load_config(path: str | None) -> tuple[dict[str, object], str] | None:
    """The TOML config: --config FILE, else $OPTIMIST_CONFIG, else ./optimist.toml if it exists."""
    import tomllib

    explicit = path or os.environ.get("OPTIMIST_CONFIG")
    chosen = explicit or "optimist.toml"
    if not os.path.isfile(chosen):
        if explicit:
            raise click.BadParameter(f"{chosen} does not exist", param_hint="--config")
        return None
    try:
        with open(chosen, "rb") as f:
            return tomllib.load(f), chosen
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise click.BadParameter(f"{chosen}: {exc}", param_hint="--config") from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="optimist")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML file of option defaults, one [command] table each (default: $OPTIMIST_CONFIG, "
                   "else ./optimist.toml if present).")
@click.pass_context
def main(ctx: click.Context, debug: bool, config_path: str | None) -> None:
    """optimist: optimistic, fraud-provable ML inference on Ethereum."""
    loaded = load_config(config_path)
    if loaded is None:
        return
    config, path = loaded
    unknown = sorted(set(config) - set(COMMANDS))
    if unknown:
        raise click.UsageError(f"{path}: no command named {', '.join(unknown)} (commands: {', '.join(COMMANDS)})")
    name = ctx.invoked_subcommand
    if name in config:
        command = ctx.command.get_command(ctx, name) if isinstance(ctx.command, click.Group) else None
        if command is not None:
            ctx.default_map = {name: config_defaults(command, config[name], path)}


if __name__ == "__main__":
    main()
