"""The chain-facing CLI on anvil: deploy, register, request, status, and clear errors with exit codes
for an unknown model id, a wrong key, an unreachable RPC and a missing deployment file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from contracts.chain import Anvil, free_port
from optimist.cli import main
from optimist.commands.common import EXIT_DEPLOYMENT, EXIT_KEY, EXIT_NOT_FOUND, EXIT_RPC
from optimist.keys import dev_accounts, write_keystore

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def node():
    with Anvil() as n:
        yield n


@pytest.fixture(scope="module")
def deployed(node, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    d = tmp_path_factory.mktemp("cli")
    dep = d / "deployment.json"
    key = "0x" + dev_accounts(1)[0].key.hex().removeprefix("0x")
    env = {"OPTIMIST_RPC": node.url, "OPTIMIST_KEY": key, "OPTIMIST_DEPLOYMENT": str(dep)}
    runner = CliRunner()
    r = runner.invoke(main, ["deploy", "--window", "60", "--clock", "30"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["register", "toy"], env=env)
    assert r.exit_code == 0, r.output
    assert "model 1 registered" in r.output
    return d, env


def test_request_and_status(deployed) -> None:
    d, env = deployed
    (d / "x.bin").write_bytes(bytes(range(64)))
    runner = CliRunner()
    r = runner.invoke(main, ["request", "1", "--input", str(d / "x.bin"), "--fee", "0.001eth"], env=env)
    assert r.exit_code == 0, r.output
    assert "request 1 created" in r.output
    r = runner.invoke(main, ["status", "1"], env=env)
    assert r.exit_code == 0, r.output
    assert "OPEN" in r.output


def test_unknown_model_id(deployed) -> None:
    d, env = deployed
    (d / "x.bin").write_bytes(bytes(64))
    r = CliRunner().invoke(main, ["request", "42", "--input", str(d / "x.bin")], env=env)
    assert r.exit_code == EXIT_NOT_FOUND
    assert "unknown model id 42" in r.output


def test_unknown_request_id(deployed) -> None:
    _, env = deployed
    r = CliRunner().invoke(main, ["status", "999"], env=env)
    assert r.exit_code == EXIT_NOT_FOUND
    assert "unknown request id 999" in r.output


def test_wrong_input_length(deployed) -> None:
    d, env = deployed
    (d / "short.bin").write_bytes(bytes(10))
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "short.bin")], env=env)
    assert r.exit_code != 0
    assert "takes 64 input bytes" in r.output


@pytest.mark.parametrize("key", ["0x1234", "not a key"])
def test_malformed_key(deployed, key: str) -> None:
    d, env = deployed
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin")], env={**env, "OPTIMIST_KEY": key})
    assert r.exit_code == EXIT_KEY
    assert "OPTIMIST_KEY does not hold a valid private key" in r.output


def test_missing_key_variable(deployed) -> None:
    d, env = deployed
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin"), "--key-env", "NOPE_KEY"], env=env)
    assert r.exit_code == EXIT_KEY
    assert "NOPE_KEY is not set" in r.output


def test_unfunded_key(deployed) -> None:
    d, env = deployed
    stranger = "0x" + "11" * 32
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin")],
                           env={**env, "OPTIMIST_KEY": stranger})
    assert r.exit_code == EXIT_KEY
    assert "has no ether" in r.output


def test_keystore_wrong_password(deployed, tmp_path: Path) -> None:
    d, env = deployed
    ks = write_keystore(dev_accounts(1)[0], tmp_path / "ks.json", "right", kdf="pbkdf2", iterations=1000)
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin"), "--keystore", str(ks)],
                           env={**env, "OPTIMIST_KEYSTORE_PASSWORD": "wrong"})
    assert r.exit_code == EXIT_KEY
    assert "wrong password" in r.output
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin"), "--keystore", str(ks)],
                           env={**env, "OPTIMIST_KEYSTORE_PASSWORD": "right"})
    assert r.exit_code == 0, r.output


def test_unreachable_rpc(deployed) -> None:
    d, env = deployed
    url = f"http://127.0.0.1:{free_port()}"
    r = CliRunner().invoke(main, ["status", "1", "--rpc", url], env=env)
    assert r.exit_code == EXIT_RPC
    assert f"cannot reach the Ethereum node at {url}" in r.output


def test_missing_deployment_file(deployed, tmp_path: Path) -> None:
    _, env = deployed
    r = CliRunner().invoke(main, ["status", "1", "--deployment", str(tmp_path / "none.json")], env=env)
    assert r.exit_code == EXIT_DEPLOYMENT
    assert "no deployment file" in r.output


def test_daemon_rejects_unknown_model_file(deployed, tmp_path: Path) -> None:
    _, env = deployed
    r = CliRunner().invoke(main, ["operator", "--model", str(tmp_path / "nope.mdnn"), "--once"], env=env)
    assert r.exit_code == EXIT_NOT_FOUND
    assert "does not exist" in r.output


@pytest.mark.parametrize("fee, message", [
    ("0.01", "give a unit"), ("abc", "is not an amount"), ("-1ether", "zero or more"),
    ("0.5wei", "whole number of wei"), ("1e60ether", "more ether than exists"),
])
def test_bad_fee_is_a_usage_error(deployed, fee: str, message: str) -> None:
    d, env = deployed
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin"), "--fee", fee], env=env)
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


def test_fee_beyond_the_balance_is_a_key_error(deployed) -> None:
    d, env = deployed
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin"), "--fee", "1000000000ether"],
                           env=env)
    assert r.exit_code == EXIT_KEY, r.output
    assert "not enough for the fee of 1e+09 ETH" in r.output and len(r.output.strip().splitlines()) == 1
    from web3 import Web3

    balance = Web3(Web3.HTTPProvider(env["OPTIMIST_RPC"])).eth.get_balance(dev_accounts(1)[0].address)
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin"), "--fee", str(balance - 1)], env=env)
    assert r.exit_code == EXIT_KEY, r.output   # the fee fits, its gas does not: the node's words, no dict
    assert "cannot pay for this transaction" in r.output and "{'code'" not in r.output, r.output


def test_daemon_once_with_an_unregistered_model(deployed, tmp_path: Path) -> None:
    from converter.api import convert

    _, env = deployed
    mdnn = tmp_path / "mlp.mdnn"
    convert(Path(__file__).resolve().parents[1] / "examples" / "models" / "mlp_digits.onnx", mdnn)
    r = CliRunner().invoke(main, ["challenger", "--model", str(mdnn), "--once", "--db", str(tmp_path / "c.db")],
                           env=env)
    assert r.exit_code == EXIT_NOT_FOUND, r.output
    assert "none of the given models is registered" in r.output


def test_chain_up_on_a_taken_port(node) -> None:
    r = CliRunner().invoke(main, ["chain", "up", "--port", str(node.port)])
    assert r.exit_code == EXIT_RPC, r.output
    assert f"port {node.port} on 127.0.0.1 is already in use" in r.output


@pytest.mark.parametrize("text, wei", [
    ("0.01ether", 10**16), ("0.1eth", 10**17), ("10gwei", 10**10), ("1000wei", 1000), ("1000", 1000),
    ("1_000", 1000), (" 2 ETH ", 2 * 10**18), ("0", 0),
])
def test_parse_wei(text: str, wei: int) -> None:
    from optimist.commands.common import parse_wei

    assert parse_wei(text) == wei


def test_register_twice_names_the_existing_id(deployed) -> None:
    _, env = deployed
    r = CliRunner().invoke(main, ["register", "toy"], env=env)
    assert r.exit_code == 0, r.output
    assert "already registered as model 1" in r.output


def test_request_json_cancel_before_and_status_json(deployed) -> None:
    import json

    d, env = deployed
    runner = CliRunner()
    r = runner.invoke(main, ["request", "1", "--input", str(d / "x.bin"), "--fee", "0.001ether",
                             "--cancel-after", "1h", "--json"], env=env)
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["status"] == "OPEN" and report["fee_wei"] == 10**15 and report["results"] == []
    rid = report["request"]
    r = runner.invoke(main, ["cancel", str(rid)], env=env)
    assert r.exit_code == 6, r.output            # before its deadline: the contract says no, by name
    assert "Traceback" not in r.output
    r = runner.invoke(main, ["status", str(rid), "--json"], env=env)
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "OPEN"


@pytest.mark.parametrize("args, message", [
    (["--cancel-after", "soon"], "is not a duration"),
    (["--cancel-after", "90d"], "must be 1 s .. 30 days"),
    (["--callback", "0x12"], "'0x12' is not an address"),
    (["--callback-gas", "0"], "0 is not in the range 1<=x<=5000000"),
])
def test_bad_request_options(deployed, args: list[str], message: str) -> None:
    d, env = deployed
    r = CliRunner().invoke(main, ["request", "1", "--input", str(d / "x.bin"), *args], env=env)
    assert r.exit_code == 2 and message in r.output, r.output


def test_deploy_refuses_bad_parameters(deployed) -> None:
    _, env = deployed
    r = CliRunner().invoke(main, ["deploy", "--clock", "0", "-o", "/dev/null"], env=env)
    assert r.exit_code == 2 and "clock must be" in r.output, r.output


def test_request_with_a_callback(deployed) -> None:
    import json

    d, env = deployed
    runner = CliRunner()
    base = ["request", "1", "--input", str(d / "x.bin"), "--fee", "0.001ether", "--json"]
    account = dev_accounts(2)[1].address         # no code: the contract refuses it, by name
    r = runner.invoke(main, [*base, "--callback", account], env=env)
    assert r.exit_code == 6 and "BadParameter" in r.output and "Traceback" not in r.output, r.output
    mips = json.loads(Path(env["OPTIMIST_DEPLOYMENT"]).read_text())["mips"]   # any contract is accepted
    r = runner.invoke(main, [*base, "--callback", mips.lower(), "--callback-gas", "50000"], env=env)
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert (report["callback"], report["callback_gas"]) == (mips, 50_000)
    r = runner.invoke(main, ["status", str(report["request"])], env=env)
    assert f"callback {mips} (gas limit 50,000)" in r.output


def test_signing_with_a_named_account(deployed, tmp_path: Path) -> None:
    """--account NAME (Foundry-style keystore directory): works; unknown account, wrong or missing
    password, a file that is not a keystore: one line each, exit 4."""
    from optimist.keys import save_account

    d, env = deployed
    kdir = tmp_path / "keystores"
    save_account(dev_accounts(1)[0], "dev", "pw", kdir, kdf="pbkdf2", iterations=1000)
    (kdir / "junk").write_text("{}")
    env = {**env, "OPTIMIST_KEY": None, "OPTIMIST_KEYSTORE_DIR": str(kdir), "OPTIMIST_KEYSTORE_PASSWORD": None,
           "ETH_PASSWORD": None}
    base = ["request", "1", "--input", str(d / "x.bin"), "--fee", "1gwei", "--account"]
    r = CliRunner().invoke(main, [*base, "dev"], env={**env, "OPTIMIST_KEYSTORE_PASSWORD": "pw"})
    assert r.exit_code == 0 and "created" in r.output, r.output
    for name, password, message in [("eve", "pw", "unknown account 'eve'"), ("dev", "nope", "wrong password"),
                                    ("junk", "pw", "junk is not a keystore"),
                                    ("dev", None, "needs its password: set OPTIMIST_KEYSTORE_PASSWORD")]:
        r = CliRunner().invoke(main, [*base, name], env={**env, "OPTIMIST_KEYSTORE_PASSWORD": password})
        assert r.exit_code == EXIT_KEY, r.output
        assert message in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_register_and_deploy_json(deployed, tmp_path: Path) -> None:
    import json

    from challenger.models import toy_model

    _, env = deployed
    r = CliRunner().invoke(main, ["register", "toy", "--json"], env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert (doc["model"], doc["new"]) == (1, False) and doc["image_root"] == "0x" + toy_model().image.image_root.hex()
    r = CliRunner().invoke(main, ["register", "toy", "--again", "--json"], env=env)
    doc = json.loads(r.output)
    assert doc["new"] is True and doc["model"] > 1 and doc["gas"] > 0
    out = tmp_path / "dep.json"
    r = CliRunner().invoke(main, ["deploy", "--json", "-o", str(out)], env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["deployment_file"] == str(out) and json.loads(out.read_text())["optimist"] == doc["optimist"]
