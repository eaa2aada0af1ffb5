"""`optimist account new | import | list` and `--account NAME` key loading (Foundry-style keystore
directory): names, passwords from the environment or a terminal prompt, one-line errors with exit 4.
The signing commands on a chain with --account: tests/test_cli_chain.py."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimist.cli import main
from optimist.commands import common
from optimist.commands.common import EXIT_ERROR, EXIT_KEY, KeySource
from optimist.keys import (
    KeyLoadError,
    dev_accounts,
    from_account,
    list_accounts,
    load_account,
    save_account,
    write_keystore,
)

DEV = dev_accounts(2)
DEV_KEY = "0x" + DEV[0].key.hex().removeprefix("0x")


@pytest.fixture()
def kdir(tmp_path: Path) -> Path:
    """A keystore directory with account `dev` (dev key 0, password "pw"; cheap pbkdf2) and a non-keystore."""
    d = tmp_path / "keystores"
    save_account(DEV[0], "dev", "pw", d, kdf="pbkdf2", iterations=1000)
    (d / "notes.txt").write_text("not a key")
    return d


def run(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None):
    return CliRunner().invoke(main, args, env={"OPTIMIST_KEYSTORE_PASSWORD": None, "ETH_PASSWORD": None,
                                                "ETH_KEYSTORE_ACCOUNT": None, **(env or {})}, input=stdin)


def test_new_import_list(tmp_path: Path) -> None:
    d = tmp_path / "ks"
    r = run(["account", "new", "alice", "--keystore-dir", str(d), "--json"], {"OPTIMIST_KEYSTORE_PASSWORD": "a"})
    assert r.exit_code == 0, r.output
    alice = json.loads(r.output)
    assert alice["keystore"] == str(d / "alice") and oct((d / "alice").stat().st_mode & 0o777) == "0o600"
    assert oct(d.stat().st_mode & 0o777) == "0o700"
    assert from_account("alice", "a", d).address == alice["address"]
    r = run(["account", "import", "dev", "--keystore-dir", str(d)],
            {"OPTIMIST_KEY": DEV_KEY, "ETH_PASSWORD": "b"})            # cast's password variable works too
    assert r.exit_code == 0, r.output
    assert DEV[0].address in r.output and "--account dev" in r.output
    assert from_account("dev", "b", d).address == DEV[0].address
    r = run(["account", "list", "--keystore-dir", str(d), "--json"])
    assert json.loads(r.output) == [{"account": "alice", "address": alice["address"]},
                                    {"account": "dev", "address": DEV[0].address}]
    assert DEV_KEY[2:] not in (d / "dev").read_text()                # encrypted, not the key


def test_the_default_directory_is_foundrys_and_the_variable_overrides_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OPTIMIST_KEYSTORE_DIR", raising=False)
    save_account(DEV[1], "one", "pw", kdf="pbkdf2", iterations=1000)
    assert (tmp_path / ".foundry" / "keystores" / "one").is_file()
    monkeypatch.setenv("OPTIMIST_KEYSTORE_DIR", str(tmp_path / "elsewhere"))
    assert list_accounts() == []
    monkeypatch.delenv("OPTIMIST_KEYSTORE_DIR")
    assert list_accounts() == [("one", DEV[1].address)]


@pytest.mark.parametrize("args, env, code, message", [
    (["new", "dev"], {"OPTIMIST_KEYSTORE_PASSWORD": "x"}, EXIT_ERROR, "account 'dev' already exists"),
    (["new", "../up"], {"OPTIMIST_KEYSTORE_PASSWORD": "x"}, 2, "is not an account name"),
    (["new", "nopw"], {}, EXIT_KEY, "needs a password: set OPTIMIST_KEYSTORE_PASSWORD"),
    (["import", "k"], {"OPTIMIST_KEY": None}, EXIT_KEY, "environment variable OPTIMIST_KEY is not set"),
    (["import", "k", "--key-env", "MYKEY"], {"MYKEY": "0x12", "OPTIMIST_KEYSTORE_PASSWORD": "x"}, EXIT_KEY,
     "MYKEY does not hold a valid private key"),
])
def test_account_command_errors(kdir: Path, args: list[str], env: dict, code: int, message: str) -> None:
    r = run(["account", *args, "--keystore-dir", str(kdir)], env)
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output


def test_list_marks_files_that_are_not_keystores(kdir: Path) -> None:
    r = run(["account", "list", "--keystore-dir", str(kdir)])
    assert r.exit_code == 0 and "(not a keystore)" in r.output and DEV[0].address in r.output
    r = run(["account", "list", "--keystore-dir", str(kdir / "none")])
    assert r.exit_code == 0 and "no accounts in" in r.output


def test_account_loading_errors_are_one_line(kdir: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPTIMIST_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.delenv("ETH_PASSWORD", raising=False)
    assert load_account(account="dev", keystore_directory=kdir, password="pw").address == DEV[0].address
    assert load_account(account="dev", keystore_directory=kdir, password=lambda what: "pw").address == DEV[0].address
    cases = [
        (dict(account="bob", password="pw"), "unknown account 'bob' in .* \\(accounts there: dev, notes.txt; fix: "
                                            "`optimist account new bob`"),
        (dict(account="dev", password="nope"), "wrong password for account 'dev'"),
        (dict(account="notes.txt", password="pw"), "notes.txt is not a keystore"),
        (dict(account="dev", password=None), "account 'dev' .* needs its password: set OPTIMIST_KEYSTORE_PASSWORD"),
        (dict(account="dev", password=lambda what: None), "needs its password"),
        (dict(account="a/b", password="pw"), "is not an account name"),
        (dict(account="dev", keystore=kdir / "dev", password="pw"), "not both"),
    ]
    for kwargs, message in cases:
        with pytest.raises(KeyLoadError, match=message):
            load_account(keystore_directory=kdir, **kwargs)
    monkeypatch.setenv("OPTIMIST_KEYSTORE_PASSWORD", "pw")          # the environment wins over a prompt
    assert load_account(account="dev", keystore_directory=kdir,
                        password=lambda what: pytest.fail("asked")).address == DEV[0].address


def test_a_keystore_file_with_a_broken_crypto_section(tmp_path: Path) -> None:
    ks = write_keystore(DEV[0], tmp_path / "ks", "pw", kdf="pbkdf2", iterations=1000)
    data = json.loads(ks.read_text())
    data["crypto"]["kdf"] = "argon9"
    ks.write_text(json.dumps(data))
    with pytest.raises(KeyLoadError, match="not a usable keystore|cannot decrypt"):
        load_account(keystore=ks, password="pw")


def test_the_password_prompt_on_a_terminal(kdir: Path, monkeypatch) -> None:
    """KeySource asks (hidden, on stderr) only when the environment has no password and stdin is a terminal."""
    monkeypatch.delenv("OPTIMIST_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.delenv("ETH_PASSWORD", raising=False)
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    asked: list[str] = []

    def fake_prompt(text: str, **kwargs: object) -> str:
        asked.append(text)
        assert kwargs["hide_input"] is True and kwargs["err"] is True
        return "pw"

    monkeypatch.setattr(common.click, "prompt", fake_prompt)
    assert KeySource(account="dev", keystore_dir=kdir).load().address == DEV[0].address
    assert asked == [f"password of account 'dev' ({kdir / 'dev'})"]
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: False)
    with pytest.raises(KeyLoadError, match="needs its password"):
        KeySource(account="dev", keystore_dir=kdir).load()


def test_eth_keystore_account_is_the_default_account(kdir: Path, monkeypatch) -> None:
    monkeypatch.setenv("ETH_KEYSTORE_ACCOUNT", "dev")
    monkeypatch.setenv("OPTIMIST_KEYSTORE_PASSWORD", "pw")
    assert KeySource(keystore_dir=kdir).load().address == DEV[0].address
    other = write_keystore(DEV[1], kdir.parent / "other.json", "pw", kdf="pbkdf2", iterations=1000)
    assert KeySource(keystore=other).load().address == DEV[1].address   # an explicit --keystore wins


def test_import_in_a_real_terminal(tmp_path: Path) -> None:
    """`optimist account import` in a pseudo-terminal: the key and the password (twice) are asked for,
    hidden; nothing comes from the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPTIMIST_KEY", "OPTIMIST_KEYSTORE_PASSWORD",
                                                            "ETH_PASSWORD")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "optimist.cli", "account", "import", "tty",
                             "--keystore-dir", str(tmp_path)], stdin=child_fd, stdout=child_fd, stderr=child_fd,
                            env=env, close_fds=True)
    os.close(child_fd)
    out = b""
    answers = [(b"private key", DEV_KEY.encode()), (b"password for 'tty'", b"s3cret"), (b"Repeat", b"s3cret")]
    for expected, answer in answers:
        while expected not in out:
            chunk = os.read(main_fd, 1024)
            assert chunk, out
            out += chunk
        os.write(main_fd, answer + b"\n")
    try:
        while chunk := os.read(main_fd, 1024):
            out += chunk
    except OSError:        # EIO: the child closed the terminal
        pass
    assert proc.wait(timeout=60) == 0, out
    assert DEV[0].address.encode() in out and DEV_KEY.encode() not in out and b"s3cret" not in out
    assert from_account("tty", "s3cret", tmp_path).address == DEV[0].address
