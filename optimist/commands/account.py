"""`optimist account new | import | list`: named encrypted keys in a Foundry-style keystore directory
(~/.foundry/keystores by default, shared with `cast wallet`), used by every signing command as
`--account NAME`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from optimist.commands.common import (
    DEFAULT_KEYSTORE_DIR,
    EXIT_ERROR,
    EXIT_KEY,
    KEYSTORE_DIR_ENV,
    CommandError,
    console,
    stdin_is_terminal,
)
from optimist.keys import (
    DEFAULT_KEY_ENV,
    DEFAULT_PASSWORD_ENV,
    FOUNDRY_PASSWORD_ENV,
    KeyLoadError,
    check_account_name,
    list_accounts,
    parse_key,
    password_from_env,
    save_account,
)
from optimist.keys import keystore_dir as resolve_dir

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


def dir_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--keystore-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help=f"Keystore directory (default ${KEYSTORE_DIR_ENV}, else {DEFAULT_KEYSTORE_DIR}).")(fn)


@click.group("account")
def account() -> None:
    """Named encrypted keys for --account NAME (keystore directory, as cast's): new, import, list."""


def new_password(name: str, password_env: str) -> str:
    """The password of a new keystore: from the environment, else asked twice on a terminal."""
    password = password_from_env(password_env)
    if password is not None:
        return password
    if not stdin_is_terminal():
        raise CommandError(f"account {name!r} needs a password: set {DEFAULT_PASSWORD_ENV} (or "
                           f"{FOUNDRY_PASSWORD_ENV}), or run in a terminal to be asked for it", EXIT_KEY)
    return click.prompt(f"password for {name!r}", hide_input=True, confirmation_prompt=True, err=True)


def check_free(name: str, directory: Path | None) -> Path:
    try:
        check_account_name(name)
    except KeyLoadError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    d = resolve_dir(directory)
    if (d / name).exists() or (d / f"{name}.json").exists():
        raise CommandError(f"account {name!r} already exists in {d} (choose another name)", EXIT_ERROR)
    return d


def store(acct: LocalAccount, name: str, password: str, directory: Path | None, as_json: bool) -> None:
    try:
        path = save_account(acct, name, password, directory)
    except KeyLoadError as exc:
        raise CommandError(str(exc), EXIT_ERROR) from None
    if as_json:
        click.echo(json.dumps({"account": name, "address": acct.address, "keystore": str(path)}))
    else:
        console.print(f"account [bold]{name}[/]: {acct.address}  (keystore {path}; sign with --account {name})",
                      soft_wrap=True)


@account.command("new")
@click.argument("name")
@dir_option
@click.option("--password-env", default=DEFAULT_PASSWORD_ENV, show_default=True,
              help=f"Environment variable holding the new password (else ${FOUNDRY_PASSWORD_ENV}, else a prompt).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def new(name: str, keystore_dir: Path | None, password_env: str, as_json: bool) -> None:
    """Create account NAME: a random key, encrypted with a password (asked twice on a terminal)."""
    from eth_account import Account

    check_free(name, keystore_dir)
    password = new_password(name, password_env)
    store(Account.create(), name, password, keystore_dir, as_json)


@account.command("import")
@click.argument("name")
@dir_option
@click.option("--key-env", default=None, metavar="VAR",
              help=f"Take the private key from this environment variable (default: a hidden prompt on a "
                   f"terminal, else ${DEFAULT_KEY_ENV}).")
@click.option("--password-env", default=DEFAULT_PASSWORD_ENV, show_default=True,
              help=f"Environment variable holding the new password (else ${FOUNDRY_PASSWORD_ENV}, else a prompt).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def import_(name: str, keystore_dir: Path | None, key_env: str | None, password_env: str, as_json: bool) -> None:
    """Store an existing private key as account NAME (encrypted with a password)."""
    check_free(name, keystore_dir)
    if key_env is None and stdin_is_terminal():
        raw = click.prompt("private key (0x + 64 hex digits)", hide_input=True, err=True)
        what = "the key entered"
    else:
        var = key_env or DEFAULT_KEY_ENV
        raw = os.environ.get(var)
        if not raw:
            raise CommandError(f"no key to import: environment variable {var} is not set (or run in a terminal "
                               "to be asked for it)", EXIT_KEY)
        what = var
    try:
        acct = parse_key(raw, what)
    except KeyLoadError as exc:
        raise CommandError(str(exc), EXIT_KEY) from None
    store(acct, name, new_password(name, password_env), keystore_dir, as_json)


@account.command("list")
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
def list_(keystore_dir: Path | None, as_json: bool) -> None:
    """The accounts of the keystore directory and their addresses (no password needed)."""
    d = resolve_dir(keystore_dir)
    accounts = list_accounts(d)
    if as_json:
        click.echo(json.dumps([{"account": n, "address": a} for n, a in accounts]))
        return
    if not accounts:
        console.print(f"no accounts in {d} (create one: `optimist account new NAME`)", soft_wrap=True)
        return
    table = Table(title=f"accounts in {d}")
    table.add_column("name")
    table.add_column("address")
    for n, a in accounts:
        table.add_row(n, a or "(not a keystore)")
    console.print(table)
