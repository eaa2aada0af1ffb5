"""`optimist request-batch`, `status RB:I` and `cancel-batch` (docs/game-rules.md §3b).

On anvil: a request batch with its inputs in blobs (files and a stacked array), followed in words while open,
answered by an honest operator daemon (in process) and finalized, then read back (the output equals the honest
run's); a calldata batch; a cancelled batch; and every user error as one line with its exit code. On eth-tester
(the CLI's node swapped for the embedded chain): no blobs there, so the default falls back to calldata (said so)
and --blobs is refused.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from challenger.models import toy_model
from contracts.batches import entry_ref
from contracts.chain import Anvil
from contracts.system import GraphModelSpec, System, advance_time
from mipsvm.memory import keccak256
from optimist import deployment as dep
from optimist.cli import main
from optimist.commands.common import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_REVERT
from optimist.keys import dev_accounts
from optimist.world import World
from tests.test_daemon_anvil import _anvil_package_installed

WINDOW = 60


def toy_input(word: int) -> bytes:
    return struct.pack("<16I", *range(1, 16), word)


def invoke(env: dict[str, str], *args: str) -> object:
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="fast")


@pytest.fixture(scope="module")
def node():
    if not _anvil_package_installed():  # pragma: no cover
        pytest.skip("the npm anvil package is not installed (make setup)")
    with Anvil() as n:
        yield n


@pytest.fixture(scope="module")
def deployed(node, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    d = tmp_path_factory.mktemp("cli-entries")
    key = "0x" + dev_accounts(1)[0].key.hex().removeprefix("0x")
    env = {"OPTIMIST_RPC": node.url, "OPTIMIST_KEY": key, "OPTIMIST_DEPLOYMENT": str(d / "deployment.json")}
    r = invoke(env, "deploy", "--window", str(WINDOW), "--clock", "30")
    assert r.exit_code == 0, r.output
    r = invoke(env, "register", "toy")
    assert r.exit_code == 0 and "model 1 registered" in r.output, r.output
    for i in range(3):
        (d / f"x{i}.bin").write_bytes(toy_input(400 + i))
    np.save(d / "stacked.npy", np.stack([np.arange(16, dtype=np.float32) + k for k in range(2)]))
    return d, env


@pytest.mark.anvil
def test_request_batch_in_blobs_answered_and_read(deployed, node, model, tmp_path) -> None:
    d, env = deployed
    r = invoke(env, "request-batch", "1", str(d / "x0.bin"), str(d / "x1.bin"), str(d / "x2.bin"),
               "--fee-each", "0.001eth")
    assert r.exit_code == 0, r.output
    assert "request batch 1 created (model 1, 3 entries, fee 0.001 ETH each = 0.003 ETH, inputs in blobs (1 blob))" \
        in r.output
    assert "blob gas 131,072" in r.output and "entries: 1:0 1:1 1:2" in r.output
    r = invoke(env, "status", "1:1")
    assert r.exit_code == 0, r.output
    assert "OPEN: open: waiting for an operator" in r.output

    w3 = node.web3()
    dd = dep.load(env["OPTIMIST_DEPLOYMENT"])
    world = World(w3, System(w3, dd.optimist, deploy_block=dd.block), model, 1, dd.block, db_dir=tmp_path,
                  engine="fast")
    s = world.system
    op = world.operator(name="honest")
    world.run_until(lambda: all(s.entry_taken(1, i) for i in range(3)), [op])
    r = invoke(env, "status", "1:2")
    assert r.exit_code == 0 and "ANSWERED: answered by" in r.output and "challenge window open" in r.output
    world.advance_time(WINDOW + 2)
    world.run_until(lambda: s.batch(1).settled, [op])
    r = invoke(env, "status", "1:2", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["state"] == "FINALIZED" and report["outcome"]["outcome"] == "SUCCESS"
    honest = op.honest_trace(entry_ref(1, 2))
    assert bytes.fromhex(report["outcome"]["output_hex"][2:]) == honest.output
    assert report["outcome"]["steps"] == honest.steps and report["answers"][0]["operator"] == op.me
    r = invoke(env, "status", str(entry_ref(1, 0)))   # the request id works as well as 1:0
    assert r.exit_code == 0 and "FINALIZED: finalized: answered by" in r.output and "output: [" in r.output


@pytest.mark.anvil
def test_request_batch_in_calldata_json_and_stacked(deployed) -> None:
    d, env = deployed
    r = invoke(env, "request-batch", "1", "--stacked", str(d / "stacked.npy"), "--calldata", "--fee-total",
               "2000wei", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["via"] == "calldata" and out["blob_gas"] == 0 and out["blobs"] == 0 and out["gas"] > 0
    assert out["fee_each_wei"] == 1000 and out["fee_total_wei"] == 2000 and len(out["entries"]) == 2
    rb = out["request_batch"]
    assert out["request_ids"] == [entry_ref(rb, 0), entry_ref(rb, 1)]


@pytest.mark.anvil
def test_cancel_batch(deployed, node) -> None:
    d, env = deployed
    r = invoke(env, "request-batch", "1", str(d / "x0.bin"), str(d / "x1.bin"), "--cancel-after", "30s", "--json")
    assert r.exit_code == 0, r.output
    rb = json.loads(r.output)["request_batch"]
    r = invoke(env, "cancel-batch", str(rb))
    assert r.exit_code == EXIT_REVERT and "can be cancelled only after its deadline" in r.output
    advance_time(node.web3(), 40)
    r = invoke(env, "status", f"{rb}:0")
    assert "EXPIRED: unanswered past its deadline" in r.output
    r = invoke(env, "cancel-batch", str(rb))
    assert r.exit_code == 0, r.output
    assert f"request batch {rb}: 2 entries cancelled; 0.02 ETH returned" in r.output
    r = invoke(env, "status", f"{rb}:1")
    assert "CANCELLED: cancelled by the requester (fee refunded), never answered" in r.output
    r = invoke(env, "cancel-batch", str(rb))
    assert r.exit_code == EXIT_REVERT and "nothing to cancel (NothingToCancel)" in r.output


@pytest.mark.anvil
@pytest.mark.parametrize("args, code, message", [
    (["request-batch", "1", "{d}/missing.bin"], EXIT_NOT_FOUND, "input file {d}/missing.bin does not exist"),
    (["request-batch", "1", "{d}/x0.bin", "{d}/short.bin"], EXIT_ERROR, "model 1 takes 64 input bytes; input 1 has 10"),
    (["request-batch", "1", "{d}/x0.bin", "{d}/x1.bin", "{d}/x2.bin", "--fee-total", "10wei"], 2,
     "does not split evenly over 3 entries"),
    (["request-batch", "1", "{d}/x0.bin", "--fee-total", "1wei", "--fee-each", "1wei"], 2,
     "give --fee-each (per entry) or --fee-total (the whole batch), not both"),
    (["request-batch", "1"], 2, "give the inputs: files (INPUTS...) or one array (--stacked FILE)"),
    (["request-batch", "1", "--stacked", "{d}/x0.bin"], 2, "give a .npy array or a .json list"),
    (["request-batch", "7", "{d}/x0.bin"], EXIT_NOT_FOUND, "unknown model id 7"),
    (["status", "3:"], 2, "is not an entry: give RB:I"),
    (["status", "99:0"], EXIT_NOT_FOUND, "unknown request batch 99"),
])
def test_request_batch_errors(deployed, args: list[str], code: int, message: str) -> None:
    d, env = deployed
    (d / "short.bin").write_bytes(bytes(10))
    r = invoke(env, *[a.format(d=d) for a in args])
    assert r.exit_code == code, r.output
    assert message.format(d=d) in " ".join(r.output.split())
    assert "Traceback" not in r.output


@pytest.mark.anvil
def test_generation_model_is_refused_in_words(deployed, node) -> None:
    d, env = deployed
    w3 = node.web3()
    dd = dep.load(env["OPTIMIST_DEPLOYMENT"])
    gen_id = System(w3, dd.optimist).register_graph_model(GraphModelSpec(keccak256(b"nodes"), 3, 64, 40, period=1),
                                                          sender=w3.eth.accounts[0])
    r = invoke(env, "request-batch", str(gen_id), str(d / "x0.bin"))
    assert r.exit_code == EXIT_ERROR, r.output
    assert f"model {gen_id} is a generation model (its node count depends on each input's token count" \
           in " ".join(r.output.split())
    assert "(the contract reverts GenerationModel)" in " ".join(r.output.split())


def test_eth_tester_falls_back_to_calldata(model, tmp_path, monkeypatch) -> None:
    world = World.on_eth_tester(model, window=WINDOW, clock=30)
    account = world.fund()
    dep.Deployment(world.w3.eth.chain_id, world.system.address, "0x" + "00" * 20, world.deploy_block) \
        .save(tmp_path / "deployment.json")
    from web3 import Web3

    import optimist.commands.batch as batch

    monkeypatch.setattr(batch, "connect", lambda rpc: Web3(world.w3.provider))   # one per command, as connect
    env = {"OPTIMIST_KEY": "0x" + account.key.hex().removeprefix("0x"),
           "OPTIMIST_DEPLOYMENT": str(tmp_path / "deployment.json")}
    for i in range(2):
        (tmp_path / f"x{i}.bin").write_bytes(toy_input(i))
    files = [str(tmp_path / f"x{i}.bin") for i in range(2)]
    r = invoke(env, "request-batch", "1", *files, "--blobs")
    assert r.exit_code == EXIT_ERROR and "this chain does not support blob transactions (EIP-4844)" in r.output
    r = invoke(env, "request-batch", "1", *files)
    assert r.exit_code == 0, r.output
    assert "this chain does not support blob transactions: the inputs go in calldata" in r.output
    assert "request batch 1 created (model 1, 2 entries, fee 0.01 ETH each = 0.02 ETH, inputs in calldata)" \
        in r.output
    assert world.system.request_batch_info(1).count == 2
