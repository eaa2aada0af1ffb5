"""Signing keys: from an environment variable, an encrypted keystore file, or a named account in a
Foundry-style keystore directory (`--account NAME`, as `cast` reads ~/.foundry/keystores); never
from the command line."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # eth_account costs ~2 s to import (py_ecc): only where a key is really used
    from eth_account.signers.local import LocalAccount

DEFAULT_KEY_ENV = "OPTIMIST_KEY"
DEFAULT_PASSWORD_ENV = "OPTIMIST_KEYSTORE_PASSWORD"
FOUNDRY_PASSWORD_ENV = "ETH_PASSWORD"          # what cast reads a keystore password from
ACCOUNT_ENV = "ETH_KEYSTORE_ACCOUNT"           # cast's default for --account
KEYSTORE_DIR_ENV = "OPTIMIST_KEYSTORE_DIR"
DEFAULT_KEYSTORE_DIR = "~/.foundry/keystores"  # cast wallet import / --account
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,63}")

# A password: the text itself, or a function asked for it only when a keystore must be decrypted
# (the CLI's hidden prompt on a terminal); None = say how to give one.
Password = str | Callable[[str], str] | None


class KeyLoadError(ValueError):
    """No usable key: missing variable, malformed key, unknown account, a file that is not a
    keystore, no password, or the wrong one."""


def from_env(var: str = DEFAULT_KEY_ENV) -> LocalAccount:
    """The account whose hex private key is in environment variable `var`."""
    raw = os.environ.get(var)
    if not raw:
        raise KeyLoadError(f"environment variable {var} is not set (fix: export {var}=0x<64 hex digits>, "
                           "or use --account NAME)")
    return parse_key(raw, var)


def parse_key(raw: str, what: str) -> LocalAccount:
    """A hex private key (0x optional) as an account; KeyLoadError naming `what` otherwise."""
    from eth_account import Account

    try:
        return Account.from_key(raw.strip())
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"{what} does not hold a valid private key (expected 0x + 64 hex digits): "
                           f"{type(exc).__name__}") from None


def password_from_env(password_env: str = DEFAULT_PASSWORD_ENV) -> str | None:
    """The keystore password in `password_env`, else in $ETH_PASSWORD (cast's), else None."""
    for var in (password_env, FOUNDRY_PASSWORD_ENV):
        value = os.environ.get(var)
        if value is not None:
            return value
    return None


def read_keystore(path: str | Path) -> dict[str, Any]:
    """The JSON of an encrypted (Web3 Secret Storage v3) keystore file, checked for its shape."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyLoadError(f"keystore {path} does not exist") from None
    except IsADirectoryError:
        raise KeyLoadError(f"keystore {path} is a directory, not a keystore file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyLoadError(f"{path} is not a keystore (not readable JSON: {exc})") from None
    crypto = data.get("crypto", data.get("Crypto")) if isinstance(data, dict) else None
    if not isinstance(crypto, dict) or not {"ciphertext", "kdf", "kdfparams", "mac"} <= set(crypto) \
            or data.get("version") != 3:
        raise KeyLoadError(f"{path} is not a keystore (expected an encrypted version 3 JSON key, as "
                           "`optimist account new`, `cast wallet import` or geth write)")
    return data


def decrypt_keystore(path: str | Path, password: Password, *, what: str | None = None) -> LocalAccount:
    """Decrypt the keystore at `path` with `password` (text, or asked for by calling it)."""
    from eth_account import Account

    path = Path(path)
    data = read_keystore(path)
    what = what or f"keystore {path}"
    if callable(password):
        password = password(what)
    if password is None:
        raise KeyLoadError(f"{what} needs its password: set {DEFAULT_PASSWORD_ENV} (or {FOUNDRY_PASSWORD_ENV}), "
                           "or run in a terminal to be asked for it")
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise KeyLoadError(f"wrong password for {what}") from None
        raise KeyLoadError(f"cannot decrypt {path}: {exc}") from None
    except (KeyError, TypeError, NotImplementedError) as exc:
        raise KeyLoadError(f"{path} is not a usable keystore ({type(exc).__name__}: {exc})") from None
    return Account.from_key(key)


def from_keystore(path: str | Path, password_env: str = DEFAULT_PASSWORD_ENV) -> LocalAccount:
    """Decrypt a keystore file with the password in `password_env` (or $ETH_PASSWORD)."""
    return decrypt_keystore(path, password_from_env(password_env))


def keystore_dir(directory: str | Path | None = None) -> Path:
    """The keystore directory: `directory`, else $OPTIMIST_KEYSTORE_DIR, else ~/.foundry/keystores."""
    return Path(directory or os.environ.get(KEYSTORE_DIR_ENV) or DEFAULT_KEYSTORE_DIR).expanduser()


def check_account_name(name: str) -> str:
    """An account name is a plain file name (letters, digits, `_ . @ + -`; no path)."""
    if not ACCOUNT_NAME.fullmatch(name):
        raise KeyLoadError(f"{name!r} is not an account name (letters, digits and _ . @ + -, at most 64, "
                           "no slashes)")
    return name


def list_accounts(directory: str | Path | None = None) -> list[tuple[str, str | None]]:
    """(name, address or None if the file is not a keystore) of every file in the keystore directory."""
    d = keystore_dir(directory)
    if not d.is_dir():
        return []
    out: list[tuple[str, str | None]] = []
    for path in sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            address = read_keystore(path).get("address")
        except KeyLoadError:
            address = None
        else:
            address = _checksum_address(address) if isinstance(address, str) else "?"
        out.append((path.name, address))
    return out


def _checksum_address(raw: str) -> str:
    from eth_utils import is_hex_address, to_checksum_address

    text = raw if raw.startswith("0x") else "0x" + raw
    return to_checksum_address(text) if is_hex_address(text) else "?"


def account_path(name: str, directory: str | Path | None = None) -> Path:
    """The keystore file of account `name`: DIR/NAME (as cast names it) or DIR/NAME.json."""
    d = keystore_dir(directory)
    check_account_name(name)
    for candidate in (d / name, d / f"{name}.json"):
        if candidate.is_file():
            return candidate
    names = [n for n, _ in list_accounts(d)]
    known = f"accounts there: {', '.join(names)}" if names else "it has no accounts"
    raise KeyLoadError(f"unknown account {name!r} in {d} ({known}; fix: `optimist account new {name}` or "
                       f"`optimist account import {name}`, or --keystore-dir DIR)")


def from_account(name: str, password: Password, directory: str | Path | None = None) -> LocalAccount:
    """Decrypt the named account of the keystore directory."""
    path = account_path(name, directory)
    return decrypt_keystore(path, password, what=f"account {name!r} ({path})")


def write_keystore(account: LocalAccount, path: str | Path, password: str, *, kdf: str = "scrypt",
                   iterations: int | None = None) -> Path:
    """Encrypt `account` into a keystore file, created with mode 0600; eth-account's default scrypt cost."""
    from eth_account import Account

    path = Path(path)
    text = json.dumps(Account.encrypt(account.key, password, kdf=kdf, iterations=iterations))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)
    return path


def save_account(account: LocalAccount, name: str, password: str, directory: str | Path | None = None, *,
                 kdf: str = "scrypt", iterations: int | None = None) -> Path:
    """Store `account` as NAME in the keystore directory (created 0700); refuses an existing name."""
    d = keystore_dir(directory)
    check_account_name(name)
    if (d / name).exists() or (d / f"{name}.json").exists():
        raise KeyLoadError(f"account {name!r} already exists in {d} (choose another name)")
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        return write_keystore(account, d / name, password, kdf=kdf, iterations=iterations)
    except OSError as exc:
        raise KeyLoadError(f"cannot write to the keystore directory {d}: {exc.strerror or exc}") from None


def load_account(key_env: str | None = None, keystore: str | Path | None = None,
                 password_env: str = DEFAULT_PASSWORD_ENV, *, account: str | None = None,
                 keystore_directory: str | Path | None = None, password: Password = None) -> LocalAccount:
    """The CLI's rule: --account NAME, else --keystore FILE, else the key in --key-env (default
    OPTIMIST_KEY). A keystore's password: $`password_env`, $ETH_PASSWORD, else `password` (the prompt)."""
    if account is not None and keystore is not None:
        raise KeyLoadError("give --account NAME or --keystore FILE, not both")
    from_env_password = password_from_env(password_env)
    chosen: Password = from_env_password if from_env_password is not None else password
    if account is not None:
        return from_account(account, chosen, keystore_directory)
    if keystore is not None:
        return decrypt_keystore(keystore, chosen)
    return from_env(key_env or DEFAULT_KEY_ENV)


def dev_accounts(count: int = 10, mnemonic: str = ANVIL_MNEMONIC) -> list[LocalAccount]:
    """anvil's funded development accounts (m/44'/60'/0'/0/i of the test mnemonic)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]
