"""Request batches with blobs and the real challenger daemon on anvil (docs/game-rules.md §3b).

The requester sends 6 inputs in blobs (one of them malformed: the toy program registered with 60 input bytes, and
that input's 64 bytes fill its region with non-zero bytes past them); a careless operator answers all
6 with its outputs in blobs: two true leaves, one answering the malformed input, one naming its true final state
with a wrong output hash, one with a wrong final state. The challenger reads the inputs from the request's blobs
and answers each lie the right way: rejectEntry for the first two (no game), a game for the third (won when the
operator does not defend); the true leaves are left alone and finalize at the window. An honest operator then
answers the two reopened entries (one in a new entry batch, one as the ordinary request its game made of it).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from challenger.models import ProgramModel, Trace, toy_model
from contracts.batches import EntryLeaf, entry_ref, leaf_result_id
from contracts.chain import ANVIL_MNEMONIC, Anvil
from contracts.system import GameStatus, RequestStatus
from mipsvm.memory import keccak256
from optimist.world import World
from tests.test_daemon_anvil import _anvil_package_installed

pytestmark = pytest.mark.anvil

if not _anvil_package_installed():  # pragma: no cover
    pytest.skip("the npm anvil package is not installed (make setup)", allow_module_level=True)

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
MAX_STEPS = 60_000


def key(i: int) -> bytes:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key


def toy60() -> ProgramModel:
    """The toy program registered with 60 input bytes: its 64-byte input region has room for a malformed input."""
    toy = toy_model(engine="fast")
    return ProgramModel(toy.elf, 60, toy.output_length, name="toy60", engine="fast")


def test_a_challenger_answers_each_kind_of_lie_from_blob_inputs(tmp_path: Path) -> None:
    model = toy60()
    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                             db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
        s = world.system
        inputs = [struct.pack("<15I", *range(1, 15), 300 + i) for i in range(6)]
        inputs[2] += struct.pack("<I", 7)                           # malformed: a non-zero byte past 60
        ch = world.challenger()
        rb = s.request_batch_blobs(world.model_id, inputs, 6 * FEE, key(0))
        traces = {i: Trace(model, x, engine="fast", max_steps=MAX_STEPS) for i, x in enumerate(inputs) if i != 2}

        def leaf(i: int, t: Trace, **fields: object) -> EntryLeaf:
            x = EntryLeaf(i, keccak256(t.final_packed), keccak256(t.output), t.steps, int(t.outcome), t.exit_code)
            return EntryLeaf(**{**x.__dict__, **fields})

        leaves = [leaf(0, traces[0]), leaf(1, traces[1]), leaf(2, traces[0]),
                  leaf(3, traces[3], output_hash=keccak256(b"not the output")),
                  leaf(4, traces[4], final_state_hash=keccak256(b"not the state")), leaf(5, traces[5])]
        operator = node.web3().eth.accounts[1]
        batch_id = s.post_entries(rb, leaves, private_key=key(1), blob_outputs=[b"x"] * 6)
        world.run_until(lambda: len(ch.store.games()) == 1 and sum(
            e.name == "EntryRejected" for e in s.events_since(world.deploy_block)) == 2, [ch], max_ticks=600)
        rejected = {e["index"]: e["malformed"] for e in s.events_since(world.deploy_block) if e.name == "EntryRejected"}
        assert rejected == {2: True, 3: False}
        gid = ch.store.games()[0]["game_id"]
        assert s.game(gid).result_id == leaf_result_id(batch_id, 4)
        verdicts = {row["result_id"]: row["verdict"] for row in ch.store.results()}
        assert [verdicts[leaf_result_id(batch_id, i)] for i in range(6)] == \
            ["agree", "agree", "malformed", "contradicts", "disagree", "agree"]
        # its output blob holds b"x" for every leaf, matching none: no output is taken, each leaf judged as above
        assert all(ch.store.result(leaf_result_id(batch_id, i))["output"] == b"" for i in range(6))
        # the operator does not defend: the challenger claims the timeout
        world.advance_time(CLOCK + 1)
        world.run_until(lambda: s.game(gid).status != GameStatus.ACTIVE, [ch])
        assert s.game(gid).status == GameStatus.CHALLENGER_WON
        # an honest operator answers what reopened: entry 3 in a new entry batch (after the reopen delay), entry
        # 4 (an ordinary request since its game) with postResult; it never answers the malformed entry 2
        honest = world.operator(name="honest")
        world.run_until(lambda: s.entry_taken(rb, 3) and s.get_request(entry_ref(rb, 4)).status ==
                        RequestStatus.POSTED, [honest, ch], advance_when_idle=2)
        assert honest.store.request(entry_ref(rb, 2))["status"] == "void"
        mine = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted" and e["operator"] == honest.me]
        assert [e["count"] for e in mine] == [1]
        world.advance_time(WINDOW + 2)
        s.finalize_entries(batch_id)
        world.run_until(lambda: s.get_request(entry_ref(rb, 4)).status == RequestStatus.FINALIZED and all(
            s.batch(b).settled for b in range(batch_id, s.batches.functions.batchCount().call() + 1)),
            [honest, ch], advance_when_idle=2)
        assert s.balance(operator) == 3 * (FEE + BOND)
        requester = node.web3().eth.accounts[0]
        assert s.balance(requester) == FEE                       # the malformed entry's fee, back
        world.settle([honest, ch])
        assert s.balance(ch.me) == s.balance(honest.me) == 0     # withdrawn: three bonds won; two fees earned
        # Optimist holds only the credits not withdrawn and the burns not sent
        assert world.contract_balance() == FEE + 3 * (FEE + BOND) + s.burned() - s.burn_sent()


def test_an_honest_operator_never_answers_a_malformed_entry(tmp_path: Path) -> None:
    """Blob inputs are only committed by their roots on-chain: the operator checks each input's bytes before answering
    (bytes past the input length that are zeros stand for the input itself; a non-zero one makes it malformed)."""
    model = toy60()
    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                             db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
        s = world.system
        inputs = [struct.pack("<15I", *range(1, 15), 400 + i) for i in range(3)]
        inputs[1] += struct.pack("<I", 5)                             # malformed
        inputs[2] += bytes(4)                                         # the 60-byte input, zero-padded
        op = world.operator(name="honest")
        rb = s.request_batch_blobs(world.model_id, inputs, 3 * FEE, key(0))
        ch = world.challenger()
        world.run_until(lambda: s.entry_taken(rb, 0) and s.entry_taken(rb, 2), [op])
        world.run_until(lambda: [r["verdict"] for r in ch.store.results()] == ["agree"] * 2, [op, ch])
        assert not s.entry_taken(rb, 1)
        assert op.store.request(entry_ref(rb, 1))["status"] == "malformed"
        posted = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted"]
        assert sum(e["count"] for e in posted) == 2
        # anvil takes blobs: the outputs travel in them (none in the calldata); the challenger reads them back
        assert all(len(e["blobHashes"]) == 1 and s.batches.decode_function_input(
            s.w3.eth.get_transaction(e.tx_hash)["input"])[1]["outputs"] == [] for e in posted)
        got = {row["request_id"]: bytes(row["output"]) for row in ch.store.results()}
        assert got == {entry_ref(rb, i): op.honest_trace(entry_ref(rb, i)).output for i in (0, 2)}
        assert bytes(op.store.request(entry_ref(rb, 2))["input"]) == inputs[2][:60]
        assert {row["verdict"] for row in ch.store.results()} == {"agree"}


def test_an_operator_told_calldata_posts_the_outputs_there(tmp_path: Path) -> None:
    """`entry_outputs="calldata"` on a chain that takes blobs: the outputs in the calldata, read back from there."""
    model = toy_model(engine="fast")
    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                             db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
        s = world.system
        inputs = [struct.pack("<16I", *range(1, 16), 500 + i) for i in range(2)]
        op = world.operator(name="honest", entry_outputs="calldata")
        ch = world.challenger()
        rb = s.request_batch_blobs(world.model_id, inputs, 2 * FEE, key(0))
        world.run_until(lambda: s.entry_taken(rb, 0) and s.entry_taken(rb, 1), [op])
        world.run_until(lambda: len(ch.store.results()) == 2, [op, ch])
        [posted] = [e for e in s.events_since(world.deploy_block) if e.name == "EntriesPosted"]
        outputs = s.batches.decode_function_input(s.w3.eth.get_transaction(posted.tx_hash)["input"])[1]["outputs"]
        want = [op.honest_trace(entry_ref(rb, i)).output for i in range(2)]
        assert posted["blobHashes"] == [] and [bytes(o) for o in outputs] == want
        assert [bytes(row["output"]) for row in ch.store.results()] == want


def test_an_operator_account_with_code_does_not_post_entries_and_says_why(tmp_path: Path) -> None:
    """postEntries takes only a direct call from an account without code (NotDirectCall). An operator whose account
    has code (here set with anvil_setCode, as an EIP-7702 delegation or a contract would) sends nothing for a
    request batch and says why once; with the code cleared (a new block) it answers the entries."""
    model = toy_model(engine="fast")
    with Anvil() as node:
        w3 = node.web3()
        world = World.deploy(w3, model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                             db_dir=tmp_path, trace_interval=4096, engine="fast", max_steps=MAX_STEPS)
        s = world.system
        op = world.operator(name="coded")
        events: list[tuple[str, dict]] = []
        op.listeners.append(lambda event, fields: events.append((event, fields)))
        w3.provider.make_request("anvil_setCode", [op.me, "0x00"])
        rb = s.request_batch_data(world.model_id, [struct.pack("<16I", *range(1, 17))], FEE)
        for _ in range(6):
            op.tick()
        refused = [f for e, f in events if e == "entries_refused"]
        assert len(refused) == 1 and "EIP-7702" in refused[0]["reason"] and refused[0]["account"] == op.me
        assert not s.entry_taken(rb, 0) and not [t for t in op.store.txs() if t.function == "postEntries"]
        w3.provider.make_request("anvil_setCode", [op.me, "0x"])
        w3.provider.make_request("evm_mine", [])   # on a chain, clearing a delegation is a transaction: a new block
        world.run_until(lambda: s.entry_taken(rb, 0), [op], max_ticks=20)
