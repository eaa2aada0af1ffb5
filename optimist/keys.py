"""Signing keys: from an environment variable or an encrypted keystore, never from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

DEFAULT_KEY_ENV = "OPTIMIST_KEY"
DEFAULT_PASSWORD_ENV = "OPTIMIST_KEYSTORE_PASSWORD"
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


class KeyLoadError(ValueError):
    """No usable key: missing variable, malformed key, unreadable keystore or wrong password."""


def from_env(var: str = DEFAULT_KEY_ENV) -> LocalAccount:
    """The account whose hex private key is in environment variable `var`."""
    raw = os.environ.get(var)
    if not raw:
        raise KeyLoadError(f"environment variable {var} is not set (fix: export {var}=0x<64 hex digits>, "
                        "or use --keystore FILE)")
    try:
        return Account.from_key(raw.strip())
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"{var} does not hold a valid private key (expected 0x + 64 hex digits): "
                        f"{type(exc).__name__}") from None


def from_keystore(path: str | Path, password_env: str = DEFAULT_PASSWORD_ENV) -> LocalAccount:
    """Decrypt an eth-account (geth-style) keystore file with the password in `password_env`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyLoadError(f"keystore {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise KeyLoadError(f"keystore {path} is not a readable JSON keystore: {exc}") from None
    password = os.environ.get(password_env)
    if password is None:
        raise KeyLoadError(f"keystore {path} needs its password in environment variable {password_env}")
    try:
        key = Account.decrypt(data, password)
    except ValueError:
        raise KeyLoadError(f"cannot decrypt keystore {path}: wrong password in {password_env} "
                        "(or a corrupted file)") from None
    return Account.from_key(key)


def write_keystore(account: LocalAccount, path: str | Path, password: str, *, kdf: str = "scrypt",
                   iterations: int | None = None) -> Path:
    """Encrypt `account` into a keystore file (mode 0600); eth-account's default scrypt cost."""
    path = Path(path)
    path.write_text(json.dumps(Account.encrypt(account.key, password, kdf=kdf, iterations=iterations)))
    path.chmod(0o600)
    return path


def load_account(key_env: str | None = None, keystore: str | Path | None = None,
                 password_env: str = DEFAULT_PASSWORD_ENV) -> LocalAccount:
    """The CLI's rule: --keystore FILE if given, else the key in --key-env (default OPTIMIST_KEY)."""
    if keystore is not None:
        return from_keystore(keystore, password_env)
    return from_env(key_env or DEFAULT_KEY_ENV)


def dev_accounts(count: int = 10, mnemonic: str = ANVIL_MNEMONIC) -> list[LocalAccount]:
    """anvil's funded development accounts (m/44'/60'/0'/0/i of the test mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]
