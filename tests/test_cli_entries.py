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
from optimist.commands.common import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_REVERT, EXIT_RPC
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
    (d / "two.bin").write_bytes(toy_input(1) + toy_input(2))                  # two inputs in one file
    np.save(d / "rows8.npy", np.zeros((2, 8), np.float32))                    # rows of the wrong size
    np.save(d / "one4x4.npy", np.zeros((4, 4), np.float32))                   # one input, not a stack
    np.save(d / "floats.npy", np.zeros(16, np.float32))
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
    assert r.exit_code == EXIT_REVERT and "can be cancelled only after its deadline, 20" in r.output
    assert " UTC (in " in r.output and "s) (DeadlineNotReached)" in r.output   # a date and the wait, not a unix time
    other = dev_accounts(2)[1]
    r = invoke({**env, "OPTIMIST_KEY": "0x" + other.key.hex().removeprefix("0x")}, "cancel-batch", str(rb))
    assert r.exit_code == EXIT_REVERT, r.output
    assert f"only the requester of request batch {rb} ({dev_accounts(1)[0].address}) can cancel its entries, not " \
           f"{other.address} (fix: --account or --key-env of the requester)" in " ".join(r.output.split())
    w3 = node.web3()
    s = System(w3, dep.load(env["OPTIMIST_DEPLOYMENT"]).optimist)
    me = dev_accounts(1)[0].address
    single = s.request(1, toy_input(9), 3 * 10**15, sender=me, deadline=w3.eth.get_block("latest")["timestamp"] + 30)
    advance_time(w3, 40)
    r = invoke(env, "status", f"{rb}:0")
    assert "EXPIRED: unanswered past its deadline" in r.output
    r = invoke(env, "cancel-batch", str(rb))
    assert r.exit_code == 0, r.output
    assert f"request batch {rb}: 2 entries cancelled; 0.02 ETH returned" in r.output
    assert "other credits" not in r.output
    r = invoke(env, "status", f"{rb}:1")
    assert "CANCELLED: cancelled by the requester (fee refunded), never answered" in r.output
    r = invoke(env, "cancel-batch", str(rb))
    assert r.exit_code == EXIT_REVERT and "nothing to cancel (NothingToCancel)" in r.output
    r = invoke(env, "request-batch", "1", str(d / "x0.bin"), "--cancel-after", "30s", "--json")
    rb = json.loads(r.output)["request_batch"]
    advance_time(w3, 40)
    s.cancel_request(single, sender=me)   # a credit of the requester's, not withdrawn yet
    r = invoke(env, "cancel-batch", str(rb))
    assert r.exit_code == 0, r.output
    assert f"request batch {rb}: 1 entry cancelled; 0.01 ETH returned to {me} (withdrawn with the account's other " \
           "credits: 0.013 ETH in all)" in " ".join(r.output.split())


@pytest.mark.anvil
@pytest.mark.parametrize("args, code, message", [
    (["request-batch", "1", "{d}/missing.bin"], EXIT_NOT_FOUND, "input file {d}/missing.bin does not exist"),
    (["request-batch", "1", "{d}/x0.bin", "{d}/short.bin"], EXIT_ERROR,
     "model 1 takes 64 input bytes (16 float32); {d}/short.bin has 10 bytes"),
    (["request-batch", "1", "{d}/x0.bin", "{d}/x1.bin", "{d}/x2.bin", "--fee-total", "10wei"], 2,
     "does not split evenly over 3 entries"),
    (["request-batch", "1", "{d}/x0.bin", "--fee-total", "1wei", "--fee-each", "1wei"], 2,
     "give --fee-each (per entry) or --fee-total (the whole batch), not both"),
    (["request-batch", "1"], 2, "give the inputs: files (INPUTS...) or one array (--stacked FILE)"),
    (["request-batch", "1", "--stacked", "{d}/x0.bin"], 2, "give a .npy array or a .json list"),
    (["request-batch", "7", "{d}/x0.bin"], EXIT_NOT_FOUND, "unknown model id 7"),
    (["status", "3:"], 2, "is not an entry: give RB:I"),
    (["status", "99:0"], EXIT_NOT_FOUND, "unknown request batch 99"),
    (["request-batch", "1", "{d}/two.bin"], EXIT_ERROR, "model 1 takes 64 input bytes (16 float32); {d}/two.bin has "
     "128 bytes; if it holds 2 inputs, one per row, give it as --stacked {d}/two.bin"),
    (["request-batch", "1", "--stacked", "{d}/rows8.npy"], EXIT_ERROR,
     "model 1 takes 64 input bytes (16 float32); each row of --stacked {d}/rows8.npy has 32 bytes (8 values)"),
    (["request-batch", "1", "--stacked", "{d}/one4x4.npy"], EXIT_ERROR, "each row of --stacked {d}/one4x4.npy has "
     "16 bytes (4 values); the whole array is one input: give {d}/one4x4.npy as a file (INPUTS), not --stacked"),
    (["request-batch", "1", "{d}/floats.npy", "--input-type", "int32"], 2,
     "Invalid value for INPUTS: {d}/floats.npy: holds float32 values; the model takes integer token ids"),
])
def test_request_batch_errors(deployed, args: list[str], code: int, message: str) -> None:
    d, env = deployed
    (d / "short.bin").write_bytes(bytes(10))
    r = invoke(env, *[a.format(d=d) for a in args])
    assert r.exit_code == code, r.output
    assert message.format(d=d) in " ".join(r.output.split())
    assert "Traceback" not in r.output


@pytest.mark.anvil
def test_status_of_a_request_batch_id_and_an_unreachable_beacon(deployed) -> None:
    d, env = deployed
    r = invoke(env, "request-batch", "1", str(d / "x0.bin"), str(d / "x1.bin"), "--calldata", "--json")
    assert r.exit_code == 0, r.output
    rb = json.loads(r.output)["request_batch"]
    r = invoke(env, "status", str(rb))   # the request batch's number, where an entry RB:I was meant
    assert r.exit_code == EXIT_NOT_FOUND, r.output
    out = " ".join(r.output.split())
    assert f"unknown request id {rb} (this deployment has " in out
    assert f"); request batch {rb}'s entries are {rb}:0..{rb}:1" in out
    r = invoke(env, "status", f"{rb}:0", "--beacon-url", "http://127.0.0.1:1")   # a port typo: said at once
    assert r.exit_code == EXIT_RPC and "cannot reach the beacon node at http://127.0.0.1:1" in r.output
    assert "(fix: --beacon-url URL" in " ".join(r.output.split()) and "Traceback" not in r.output
    r = invoke(env, "status", f"{rb}:0", "--beacon-url", env["OPTIMIST_RPC"] + "/")   # the RPC URL given for it
    assert r.exit_code == EXIT_RPC and "is the Ethereum JSON-RPC node's URL (--rpc), not a beacon API: give the " \
        "consensus client's (e.g. http://127.0.0.1:5052), or leave it out on anvil" in " ".join(r.output.split())


@pytest.mark.parametrize("args, message", [
    (["status", "\u00b2"], "'\u00b2' is not a request id (a whole number) or an entry (RB:I)"),
    (["status", "1:\u00b2"], "is not an entry: give RB:I"),
    (["status", str(2**256)], "is not a request id (a whole number) or an entry (RB:I)"),
    (["status", f"{2**44}:0"], f"a request batch id is below {2**44}"),
    (["cancel-batch", "3:1"], "'3:1' is an entry; give its request batch id (3), the number before ':'"),
    (["cancel-batch", str(2**256)], "is not a request batch id (a whole number, e.g. 1)"),
    (["request-batch", str(2**256), "x.bin"], "is not a model id (a whole number, e.g. 1)"),
    (["cancel", "x"], "'x' is not a request id (a whole number, e.g. 1)"),
])
def test_ids_are_checked_before_any_chain_work(args: list[str], message: str) -> None:
    r = invoke({"OPTIMIST_RPC": "http://127.0.0.1:1"}, *args)   # no node: refused while parsing
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split()) and "Traceback" not in r.output


def test_beacon_url_from_the_environment_is_named() -> None:
    r = invoke({"OPTIMIST_RPC": "http://127.0.0.1:1", "OPTIMIST_BEACON_URL": "localhost:5052"}, "status", "1:0")
    assert r.exit_code == 2, r.output
    assert "$OPTIMIST_BEACON_URL: 'localhost:5052' is not a beacon API URL" in " ".join(r.output.split())


class _Eth:
    def __init__(self, latest: int, pending: int | None) -> None:
        self.blocks = {"latest": latest, "pending": pending}

    def get_block(self, which: str) -> dict[str, int]:
        if self.blocks[which] is None:
            raise ValueError("no pending block here")
        return {"timestamp": self.blocks[which]}


class _W3:
    def __init__(self, latest: int, pending: int | None = None) -> None:
        self.eth = _Eth(latest, pending)


def test_cancel_after_counts_from_now_not_from_an_old_block(monkeypatch) -> None:
    import optimist.commands.common as common
    from contracts.system import MAX_REQUEST_TIME

    monkeypatch.setattr(common.time, "time", lambda: 1_000_500.0)
    # an idle anvil: its latest block is 500 s old; a deadline from it alone would be past when mined
    assert common.deadline_after(_W3(1_000_000), 30) == 1_000_530
    assert common.deadline_after(_W3(1_000_000, 1_000_500), 30) == 1_000_530
    # a chain ahead of the clock (evm_increaseTime): counted from the chain, its next block if it tells
    assert common.deadline_after(_W3(1_002_000), 30) == 1_002_030
    assert common.deadline_after(_W3(1_002_000, 1_002_400), 30) == 1_002_430
    # never past the contract's limit, counted from the latest block (the next block is no earlier)
    assert common.deadline_after(_W3(1_000_000), MAX_REQUEST_TIME) == 1_000_000 + MAX_REQUEST_TIME
    assert common.deadline_after(_W3(1_000_000, 1_000_600), MAX_REQUEST_TIME) == 1_000_000 + MAX_REQUEST_TIME


def test_oversized_calldata_and_dates_in_words() -> None:
    from web3.exceptions import Web3RPCError

    from optimist.commands.batch import too_large
    from optimist.commands.common import moment

    exc = Web3RPCError("x", rpc_response={"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}})
    err = too_large(exc, [bytes(3136)] * 400)
    assert err is not None and err.exit_code == EXIT_ERROR
    assert "the node refused the transaction (Invalid request): 400 inputs put 1,254,400 bytes in calldata" in \
        err.message and "send fewer inputs per request batch, or send them in blobs" in err.message
    other = Web3RPCError("x", rpc_response={"error": {"code": -32000, "message": "nonce too low"}})
    assert too_large(other, [bytes(64)]) is None
    from contracts.system import ContractRevert
    from optimist.commands.common import bad_deadline

    late = ContractRevert("requestBatch", "BadDeadline", {"deadline": 5, "latest": 9}, b"")
    err = bad_deadline(late, 30)
    assert err is not None and err.exit_code == EXIT_REVERT and err.message == (
        "--cancel-after 30 s had passed when the transaction was mined (the chain's clock is ahead of this one, or "
        "blocks are slow): give a longer --cancel-after (BadDeadline)")
    assert bad_deadline(late, None) is None   # no --cancel-after: the contract's own words
    assert bad_deadline(ContractRevert("requestBatch", "UnknownModel", {"modelId": 3}, b""), 30) is None
    assert moment(0, 0) == "1970-01-01 00:00:00 UTC"
    assert moment(90_061, 0) == "1970-01-02 01:01:01 UTC (in 1 d 1 h)"
    assert moment(125, 100) == "1970-01-01 00:02:05 UTC (in 25 s)"


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
