"""Blobs read from a beacon API (contracts/blobs.py BeaconBlobs, docs/game-rules.md §3b "Where blobs are read from").

A stub beacon node (http.server on 127.0.0.1, in a thread) serves the blobs of transactions mined on anvil at
their slots (the blobs' bytes from anvil, their KZG commitments and proofs computed with ckzg, a decoy blob of
another transaction first in the slot), through getBlobs (`/eth/v1/beacon/blobs/{slot}`) or the older
getBlobSidecars. Reading through it equals reading through anvil's own method; a tampered blob, a missing slot, a
pruned blob, a node behind the slot, an unreachable or erroring node and a node of another chain are each a clear
BlobError. The daemons (`optimist challenger --once`, the URL from $OPTIMIST_BEACON_URL) read a request batch's
inputs and an entry batch's outputs from it, and `optimist status RB:I --beacon-url` and the Python client read
a finalized entry's output from it; a bad URL is one line at start-up.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ckzg
import pytest
from click.testing import CliRunner

from challenger.client import with_retries
from challenger.models import Trace, toy_model
from challenger.store import Store
from contracts.batches import EntryLeaf, entry_ref, leaf_result_id
from contracts.blobs import (
    BeaconUnavailable,
    BlobError,
    _clients,
    _trusted_setup,
    anvil_serves_blobs,
    checked_items,
    commitment_hash,
    fetch_blobs,
    pack_blobs,
    sign_blob_transaction,
    unpack_blobs,
)
from contracts.chain import Anvil
from contracts.system import System, advance_time
from optimist import deployment as dep
from optimist.cli import main
from optimist.client import Client
from optimist.commands.common import EXIT_ERROR, EXIT_RPC
from optimist.keys import dev_accounts
from tests.test_daemon_anvil import _anvil_package_installed

pytestmark = pytest.mark.anvil
SLOT = 12
WINDOW = 60


# ---- the stub beacon node ------------------------------------------------------------------------
@dataclass
class Sidecar:
    blob: bytes
    commitment: bytes
    proof: bytes

    @classmethod
    def of(cls, blob: bytes) -> Sidecar:
        commitment = ckzg.blob_to_kzg_commitment(blob, _trusted_setup())
        return cls(blob, commitment, ckzg.compute_blob_kzg_proof(blob, commitment, _trusted_setup()))


@dataclass
class Beacon:
    """What the stub serves: `slots` {slot: sidecars in block order} and how it behaves."""

    genesis_time: int
    chain_id: int
    slots: dict[int, list[Sidecar]]
    get_blobs: bool = True          # serves getBlobs (else 404, as a node from before beacon-APIs v4.0.0)
    sidecars: bool = True           # serves getBlobSidecars (else 410, as anvil and v5 nodes)
    tamper: bool = False            # flips a byte of every blob it serves
    status: int | None = None       # answers every blob request with this HTTP status
    head: int = 10**9
    spec: dict[str, str] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        self.hits.append(path + ("?" + "&".join(f"{k}={','.join(v)}" for k, v in query.items()) if query else ""))
        if path == "/eth/v1/beacon/genesis":
            return 200, {"data": {"genesis_time": str(self.genesis_time), "genesis_fork_version": "0x00000000",
                                  "genesis_validators_root": "0x" + "00" * 32}}
        if path == "/eth/v1/config/spec":
            return 200, {"data": {"SECONDS_PER_SLOT": str(SLOT), "SLOTS_PER_EPOCH": "32",
                                  "MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS": "4096",
                                  "DEPOSIT_CHAIN_ID": str(self.chain_id), **self.spec}}
        if path == "/eth/v1/beacon/headers/head":
            return 200, {"data": {"root": "0x" + "00" * 32, "header": {"message": {"slot": str(self.head)}}}}
        route, _, slot = path.rpartition("/")
        if route not in ("/eth/v1/beacon/blobs", "/eth/v1/beacon/blob_sidecars"):
            return 404, {"code": 404, "message": "NOT_FOUND"}
        if self.status is not None:
            return self.status, {"code": self.status, "message": "stub error"}
        if route.endswith("blobs") and not self.get_blobs:
            return 404, {"code": 404, "message": "NOT_FOUND"}
        if route.endswith("sidecars") and not self.sidecars:
            return 410, {"code": 410, "message": "This endpoint is deprecated"}
        if int(slot) not in self.slots:
            return 404, {"code": 404, "message": "Block not found"}
        served = [Sidecar(bytes([s.blob[0] ^ 1]) + s.blob[1:] if self.tamper else s.blob, s.commitment, s.proof)
                  for s in self.slots[int(slot)]]
        if route.endswith("blobs"):
            wanted = {bytes.fromhex(h.removeprefix("0x")) for v in query.get("versioned_hashes", [])
                      for h in v.split(",")}
            return 200, {"execution_optimistic": False, "finalized": True,
                         "data": ["0x" + s.blob.hex() for s in served
                                  if not wanted or commitment_hash(s.commitment) in wanted]}
        return 200, {"version": "electra", "execution_optimistic": False, "finalized": True, "data": [
            {"index": str(i), "blob": "0x" + s.blob.hex(), "kzg_commitment": "0x" + s.commitment.hex(),
             "kzg_proof": "0x" + s.proof.hex(), "signed_block_header": {}, "kzg_commitment_inclusion_proof": []}
            for i, s in enumerate(served)]}


class StubServer:
    """`Beacon` served over HTTP on 127.0.0.1 (port 0) by a thread; a context manager."""

    def __init__(self, beacon: Beacon) -> None:
        self.beacon = beacon
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, body = stub.beacon.answer(parts.path, parse_qs(parts.query))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubServer:
        _clients.pop(self.url, None)   # a port used by an earlier stub: forget that node's genesis and spec
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- a chain with blob transactions on slots ------------------------------------------------------
@dataclass
class Chain:
    node: Anvil
    env: dict[str, str]
    genesis_time: int
    slots: dict[int, list[Sidecar]] = field(default_factory=dict)

    @property
    def w3(self) -> Any:
        return self.node.web3()

    def on_next_slot(self) -> int:
        """The next block is mined at the start of a slot (a beacon chain's blocks are); returns that slot."""
        latest = self.w3.eth.get_block("latest")["timestamp"]
        slot = (latest - self.genesis_time) // SLOT + 1
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [self.genesis_time + slot * SLOT])
        return slot

    def served(self, tx_hash: bytes, decoy: bool = True) -> int:
        """Let the beacon serve the mined transaction's blobs at its slot (after a decoy blob of another
        transaction); returns the slot."""
        block = self.w3.eth.get_block(self.w3.eth.get_transaction(tx_hash)["blockNumber"])
        slot = (block["timestamp"] - self.genesis_time) // SLOT
        decoys = [Sidecar.of(pack_blobs([b"another transaction's blob"])[0])] if decoy else []
        self.slots[slot] = decoys + [Sidecar.of(b) for b in fetch_blobs(self.w3, tx_hash)]
        return slot

    def stub(self, **options: Any) -> StubServer:
        return StubServer(Beacon(self.genesis_time, self.w3.eth.chain_id, self.slots, **options))


def invoke(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def toy_input(word: int) -> bytes:
    return struct.pack("<16I", *range(1, 16), word)


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Iterator[Chain]:
    if not _anvil_package_installed():  # pragma: no cover
        pytest.skip("the npm anvil package is not installed (make setup)")
    d = tmp_path_factory.mktemp("beacon")
    with Anvil() as node:
        key = "0x" + dev_accounts(1)[0].key.hex().removeprefix("0x")
        env = {"OPTIMIST_RPC": node.url, "OPTIMIST_KEY": key, "OPTIMIST_DEPLOYMENT": str(d / "deployment.json")}
        genesis = node.web3().eth.get_block(0)["timestamp"]
        yield Chain(node, env, genesis)


@pytest.fixture(scope="module")
def plain_tx(chain: Chain) -> tuple[bytes, list[bytes]]:
    """A type-3 transaction carrying two blobs of items (pack_blobs), mined on a slot and served by the beacon."""
    w3 = chain.w3
    account = dev_accounts(3)[2]
    items = [bytes([i]) * 70_000 for i in range(1, 4)]     # 210,000 bytes: two blobs
    blobs = pack_blobs(items)
    assert len(blobs) == 2
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    tx = {"type": 3, "chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(account.address),
          "to": account.address, "value": 0, "data": b"", "gas": 30_000, "maxPriorityFeePerGas": 10**9,
          "maxFeePerGas": 2 * base + 10**9, "maxFeePerBlobGas": 10**10}
    chain.on_next_slot()
    tx_hash = w3.eth.send_raw_transaction(sign_blob_transaction(tx, account.key, blobs).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    chain.served(tx_hash)
    return bytes(tx_hash), items


# ---- reading ------------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["getBlobs", "getBlobSidecars"])
def test_blobs_read_through_the_beacon_equal_those_read_from_anvil(chain, plain_tx, route) -> None:
    tx_hash, items = plain_tx
    with chain.stub(get_blobs=route == "getBlobs") as stub:
        blobs = fetch_blobs(chain.w3, tx_hash, stub.url)
        assert blobs == fetch_blobs(chain.w3, tx_hash) and len(blobs) == 2
        hashes = chain.w3.eth.get_transaction(tx_hash)["blobVersionedHashes"]
        assert checked_items(blobs, hashes) == items == unpack_blobs(blobs)
        slot = next(s for s, scs in chain.slots.items() if scs[-1].blob == blobs[-1])
        asked = [h for h in stub.beacon.hits if "/blob" in h]
    if route == "getBlobs":   # one request, filtered by the transaction's versioned hashes
        assert asked == [f"/eth/v1/beacon/blobs/{slot}?versioned_hashes=" + ",".join("0x" + bytes(h).hex()
                                                                                      for h in hashes)]
    else:                     # getBlobs first (404 here), then the sidecars, the decoy among them
        assert asked[-1] == f"/eth/v1/beacon/blob_sidecars/{slot}"


def test_a_transaction_without_blobs_has_none(chain) -> None:
    w3 = chain.w3
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[3], "to": w3.eth.accounts[3], "value": 0})
    w3.eth.wait_for_transaction_receipt(tx_hash)
    with chain.stub() as stub:
        assert fetch_blobs(w3, tx_hash, stub.url) == []
        assert not [h for h in stub.beacon.hits if "/blob" in h]


@pytest.mark.parametrize("route, message", [
    ("getBlobs", "not among them (first: versioned hash 0x01"),
    ("getBlobSidecars", "whose bytes do not match its KZG commitment: a faulty or lying node"),
])
def test_a_tampered_blob_is_refused(chain, plain_tx, route, message) -> None:
    with chain.stub(get_blobs=route == "getBlobs", tamper=True) as stub, pytest.raises(BlobError) as err:
        fetch_blobs(chain.w3, plain_tx[0], stub.url)
    assert message in str(err.value) and not isinstance(err.value, BeaconUnavailable)


def test_missing_pruned_and_not_yet_synced(chain, plain_tx) -> None:
    tx_hash = plain_tx[0]
    w3 = chain.w3
    slot = (w3.eth.get_block(w3.eth.get_transaction(tx_hash)["blockNumber"])["timestamp"] - chain.genesis_time) // SLOT
    empty = Beacon(chain.genesis_time, w3.eth.chain_id, {})
    with StubServer(empty) as stub, pytest.raises(BlobError) as err:
        fetch_blobs(w3, tx_hash, stub.url)
    assert "has no blobs for transaction" in str(err.value) and f"slot {slot})" in str(err.value)
    assert "missing sidecars" in str(err.value) and not isinstance(err.value, BeaconUnavailable)
    # a node behind the slot: not synced yet (a BeaconUnavailable, waited out by the daemons)
    empty.head = slot - 1
    with StubServer(empty) as stub, pytest.raises(BeaconUnavailable, match=f"is at slot {slot - 1}, before"):
        fetch_blobs(w3, tx_hash, stub.url)
    # past the retention window (here 1 epoch of 1 slot): pruned, said in days
    advance_time(w3, SLOT + 1)                      # the head moves on past the window of 12 s
    spec = {"SLOTS_PER_EPOCH": "1", "MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS": "1"}
    with StubServer(Beacon(chain.genesis_time, w3.eth.chain_id, {}, spec=spec)) as stub, \
            pytest.raises(BlobError) as err:
        fetch_blobs(w3, tx_hash, stub.url)
    assert "past the beacon nodes' retention of 1 epochs (~0.0 days): pruned" in str(err.value)


def test_unreachable_erroring_and_foreign_nodes(chain, plain_tx) -> None:
    tx_hash, w3 = plain_tx[0], chain.w3
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(BeaconUnavailable, match=f"cannot reach the beacon node at {closed} "):
        fetch_blobs(w3, tx_hash, closed)
    with chain.stub(status=500) as stub, pytest.raises(BlobError) as err:
        fetch_blobs(w3, tx_hash, stub.url)
    assert "answered HTTP 500 to GET /eth/v1/beacon/blobs/" in str(err.value) and "stub error" in str(err.value)
    assert not isinstance(err.value, BeaconUnavailable)
    with chain.stub(status=503) as stub, pytest.raises(BeaconUnavailable, match="HTTP 503"):
        fetch_blobs(w3, tx_hash, stub.url)
    with StubServer(Beacon(chain.genesis_time, 1, chain.slots)) as stub, \
            pytest.raises(BlobError, match="follows chain 1, the execution node chain 31337"):
        fetch_blobs(w3, tx_hash, stub.url)
    with StubServer(Beacon(chain.genesis_time + 5, w3.eth.chain_id, chain.slots)) as stub, \
            pytest.raises(BlobError, match="is on no slot of the beacon chain"):
        fetch_blobs(w3, tx_hash, stub.url)
    with pytest.raises(BlobError, match="is not a beacon API URL"):
        fetch_blobs(w3, tx_hash, "localhost:5052")


def test_the_daemons_tell_anvil_from_a_node_that_needs_a_beacon_url(chain) -> None:
    from contracts.chain import eth_tester_web3

    assert anvil_serves_blobs(chain.w3) and not anvil_serves_blobs(eth_tester_web3())


def test_an_unavailable_beacon_is_retried_like_an_rpc_outage() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise BeaconUnavailable("cannot reach the beacon node")
        return "read"

    assert with_retries(flaky, base_delay=0.001) == "read" and len(calls) == 3


# ---- the daemons, the status command and the client -----------------------------------------------
@pytest.fixture(scope="module")
def answered(chain: Chain) -> dict[str, Any]:
    """Deployed by the CLI; request batch 1 (3 inputs in blobs) answered by true leaves with their outputs in
    blobs, both transactions on slots served by the beacon."""
    env = chain.env
    d = Path(env["OPTIMIST_DEPLOYMENT"]).parent
    assert invoke(env, "deploy", "--window", str(WINDOW), "--clock", "30").exit_code == 0
    r = invoke(env, "register", "toy")
    assert r.exit_code == 0 and "model 1 registered" in r.output, r.output
    xs = [toy_input(400 + i) for i in range(3)]
    for i, x in enumerate(xs):
        (d / f"x{i}.bin").write_bytes(x)
    chain.on_next_slot()
    r = invoke(env, "request-batch", "1", *(str(d / f"x{i}.bin") for i in range(3)), "--fee-each", "0.001eth",
               "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["via"] == "blobs"
    chain.served(bytes.fromhex(out["tx"][2:]))
    model = toy_model(engine="fast")
    traces = [Trace(model, x, engine="fast") for x in xs]
    leaves = [EntryLeaf(i, _keccak(t.final_packed), _keccak(t.output), t.steps, int(t.outcome), t.exit_code)
              for i, t in enumerate(traces)]
    w3 = chain.w3
    dd = dep.load(env["OPTIMIST_DEPLOYMENT"])
    system = System(w3, dd.optimist, deploy_block=dd.block)
    chain.on_next_slot()
    batch_id = system.post_entries(1, leaves, private_key=dev_accounts(2)[1].key,
                                   blob_outputs=[t.output for t in traces])
    chain.served(system.last_receipt["transactionHash"])
    return {"xs": xs, "outputs": [t.output for t in traces], "batch": batch_id, "system": system, "dir": d}


def _keccak(data: bytes) -> bytes:
    from mipsvm.memory import keccak256

    return keccak256(data)


def test_the_challenger_reads_inputs_and_outputs_from_the_beacon_url_in_the_environment(chain, answered) -> None:
    d = answered["dir"]
    with chain.stub() as stub:
        env = {**chain.env, "OPTIMIST_BEACON_URL": stub.url, "OPTIMIST_KEY": "0x" + dev_accounts(4)[3].key.hex()}
        r = invoke(env, "challenger", "--model", "toy", "--once", "--db", str(d / "ch.db"))
        assert r.exit_code == 0, r.output
        asked = [h for h in stub.beacon.hits if h.startswith("/eth/v1/beacon/blobs/")]
    assert len(asked) == 2     # the request batch's inputs, the entry batch's outputs
    store = Store(d / "ch.db")
    assert [bytes(store.request(entry_ref(1, i))["input"]) for i in range(3)] == answered["xs"]
    assert [store.request(entry_ref(1, i))["status"] for i in range(3)] == ["posted"] * 3
    assert [bytes(store.result(leaf_result_id(answered["batch"], i))["output"]) for i in range(3)] == \
        answered["outputs"]
    # a beacon node serving tampered bytes: nothing is taken from it (the inputs are unavailable, no outputs: the
    # leaves are judged 'unavailable', never 'malformed' on an empty input)
    with chain.stub(tamper=True) as stub:
        env = {**env, "OPTIMIST_BEACON_URL": stub.url}
        r = invoke(env, "challenger", "--model", "toy", "--once", "--db", str(d / "ch2.db"))
        assert r.exit_code == 0, r.output
    store = Store(d / "ch2.db")
    assert [store.request(entry_ref(1, i))["status"] for i in range(3)] == ["unavailable"] * 3
    rows = [store.result(leaf_result_id(answered["batch"], i)) for i in range(3)]
    assert [(bytes(row["output"]), row["verdict"]) for row in rows] == [(b"", "unavailable")] * 3


@pytest.mark.parametrize("url, code, message", [
    ("localhost:5052", 2, "Invalid value for '--beacon-url': 'localhost:5052' is not a beacon API URL"),
    ("closed", EXIT_RPC, "cannot reach the beacon node at http://127.0.0.1:"),
    ("foreign", EXIT_RPC, "follows chain 1, the execution node chain 31337 (wrong --beacon-url?)"),
    ("rpc", EXIT_RPC, "is the Ethereum JSON-RPC node's URL (--rpc), not a beacon API"),   # the execution node's URL
    ("rpc-alias", EXIT_RPC, "answered HTTP 404 to GET /eth/v1/config/spec"),   # the same node under another name
])
def test_a_bad_beacon_url_is_one_line_at_start(chain, answered, url, code, message) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with StubServer(Beacon(chain.genesis_time, 1, chain.slots)) as foreign:
        url = {"closed": closed, "foreign": foreign.url, "rpc": chain.node.url,
               "rpc-alias": chain.node.url.replace("127.0.0.1", "localhost")}.get(url, url)
        r = invoke(chain.env, "operator", "--model", "toy", "--once", "--beacon-url", url,
                   "--db", str(answered["dir"] / "op.db"))
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output
    if code != 2:                                   # (a usage error shows the usage first)
        assert len(r.output.strip().splitlines()) == 1


def test_status_and_the_client_read_a_finalized_output_from_the_beacon(chain, answered) -> None:
    system, batch = answered["system"], answered["batch"]
    if not system.batch(batch).settled:
        advance_time(chain.w3, WINDOW + 2)
        system.finalize_entries(batch, sender=chain.w3.eth.accounts[0])
    with chain.stub() as stub:
        r = invoke(chain.env, "status", "1:2", "--json", "--beacon-url", stub.url)
        assert r.exit_code == 0, r.output
        assert bytes.fromhex(json.loads(r.output)["outcome"]["output_hex"][2:]) == answered["outputs"][2]
        client = Client(chain.node.url, deployment=chain.env["OPTIMIST_DEPLOYMENT"], beacon_url=stub.url)
        assert client.entry(entry_ref(1, 1)).result().output == answered["outputs"][1]
        assert any(h.startswith("/eth/v1/beacon/blobs/") for h in stub.beacon.hits)
    with chain.stub(tamper=True) as stub:
        r = invoke(chain.env, "status", "1:2", "--beacon-url", stub.url)
    assert r.exit_code == EXIT_ERROR and "Traceback" not in r.output
    assert "has its outputs in blobs and the beacon node does not serve them" in r.output
    assert "not among them" in r.output
