"""A Python client for dapp back-ends: request inferences, wait for them, read their outcome, follow events.

    from optimist.client import Client

    client = Client("http://127.0.0.1:8545", key="0x...", deployment="optimist-deployment.json")
    req = client.request(model_id, image, fee=10**16, callback=consumer_address)   # image: floats or bytes
    req.wait(timeout=600)                  # until finalized (or cancelled); TimeoutError otherwise
    res = req.result()                     # outcome, exit code, steps, output bytes (checked), float32 values
    for ev in client.events(follow=True):  # every Optimist event from the deployment block on, then new ones
        ...
    batch = client.request_batch(model_id, images, fee_each=10**15)   # one transaction; inputs in blobs if possible
    batch.entries[0].wait(timeout=600).result()                        # each entry read like a request

A Client is built on contracts.system.System (Client.from_system wraps one you already have). The page
docs/client.md walks through it with a runnable example.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from contracts.batches import Leaf, batch_root, is_leaf, leaf_position, leaf_proof
from contracts.system import Event, Outcome, RequestInfo, RequestStatus, System
from optimist import deployment as dep

END_STATES = (RequestStatus.FINALIZED, RequestStatus.CANCELLED)


class ClientError(RuntimeError):
    """A request the client cannot make or read (unknown model, wrong input length, not finalized...)."""


def _wei(name: str, value: Any) -> int:
    """A fee argument as whole wei >= 0; ClientError otherwise (a float in ether is the usual mistake)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ClientError(f"{name} is a whole number of wei, 0 or more (e.g. 10**15 for 0.001 ether), got {value!r}")
    return int(value)


def _as_bytes(x: Any, dtype: str, what: str) -> bytes:
    """`x` as input bytes: bytes as they are, numbers (an array, a list) as `dtype`; ClientError otherwise."""
    import numpy as np

    if isinstance(x, bytes | bytearray):
        return bytes(x)
    try:
        return np.asarray(x, dtype=dtype).tobytes()
    except (TypeError, ValueError) as exc:
        raise ClientError(f"{what} is not bytes or numbers ({exc})") from None


def _check_deadline(w3: Web3, deadline: int | None) -> None:
    from optimist.entries import EntryError, check_deadline

    try:
        check_deadline(w3, deadline)
    except EntryError as exc:
        raise ClientError(str(exc)) from None


@dataclass(frozen=True)
class Result:
    """The finalized answer to a request."""

    request_id: int
    result_id: int
    outcome: Outcome
    exit_code: int          # non-zero only for Outcome.FAILURE
    steps: int
    output: bytes           # the proven output bytes (empty unless Outcome.SUCCESS)
    operator: str

    @property
    def values(self) -> list[float]:
        """The output as little-endian float32 values (what minidnn models write)."""
        import numpy as np

        if len(self.output) % 4:
            raise ClientError(f"the output has {len(self.output)} bytes: not float32 values")
        return [float(v) for v in np.frombuffer(self.output, dtype="<f4")]

    @property
    def argmax(self) -> int:
        """Index of the largest output value (class scores)."""
        vals = self.values
        if not vals:
            raise ClientError("the request has no output")
        return max(range(len(vals)), key=vals.__getitem__)


@dataclass(frozen=True)
class LeafProof:
    """The batch leaf answering a request, with its inclusion proof and output: what OptimistBatches.leafOutcome
    (and a consumer contract that pulls answers, e.g. DigitBounty.judgeLeaf) takes."""

    batch_id: int
    index: int
    leaf: Leaf
    proof: list[bytes]
    output: bytes

    def args(self) -> tuple[Any, ...]:
        """(batchId, index, leaf, proof) as a contract call takes them."""
        return self.batch_id, self.index, self.leaf.as_tuple(), self.proof


class Request:
    """A request on chain: `.status` and `.info` are read fresh each time."""

    def __init__(self, client: Client, request_id: int) -> None:
        self.client = client
        self.id = request_id

    def __repr__(self) -> str:
        return f"Request({self.id}, {self.status.name})"

    @property
    def info(self) -> RequestInfo:
        return self.client.system.get_request(self.id)

    @property
    def status(self) -> RequestStatus:
        return self.info.status

    def wait(self, timeout: float = 3600.0, poll: float = 1.0) -> Request:
        """Block until the request is finalized or cancelled; TimeoutError after `timeout` seconds."""
        end = time.monotonic() + timeout
        while self.status not in END_STATES:
            if time.monotonic() >= end:
                raise TimeoutError(f"request {self.id} is still {self.status.name} after {timeout} s")
            time.sleep(poll)
        return self

    def result(self) -> Result:
        """The finalized result; its output bytes come from ResultPosted and are checked against the hash."""
        system = self.client.system
        info = self.info
        if info.status != RequestStatus.FINALIZED:
            raise ClientError(f"request {self.id} is {info.status.name}, not FINALIZED (wait() for it)")
        res = system.result(info.result_id)
        posted = [e for e in self.events() if e.name == "ResultPosted" and e["resultId"] == info.result_id]
        if not posted:
            raise ClientError(f"no ResultPosted event for result {info.result_id} since block "
                              f"{self.client.from_block} (pass the deployment block as from_block)")
        output = bytes(posted[-1]["output"])
        if is_leaf(info.result_id):   # a batch leaf: its fields are in its batch's root and its ResultPosted (§3a)
            e = posted[-1]
            return Result(self.id, info.result_id, Outcome(e["outcome"]), e["exitCode"], e["steps"], output,
                          e["operator"])
        if keccak(output) != res.output_hash:
            raise ClientError(f"result {info.result_id}: the event's output does not match the stored hash")
        return Result(self.id, info.result_id, res.outcome, res.exit_code, res.steps, output, res.operator)

    def leaf_proof(self) -> LeafProof:
        """The batch leaf its current result is (docs/game-rules.md §3a), with its inclusion proof and output bytes
        (the leaf commits them by keccak256, a graph model's by their tensor root: contracts.batches.output_hash; the
        leaves rebuilt from the events are checked against the batch's root). ClientError when a single result, or
        none, answers it."""
        rid = self.info.result_id
        if not is_leaf(rid):
            raise ClientError(f"request {self.id} is not answered by a batch leaf "
                              f"({'no result yet' if rid == 0 else f'result {rid} is a single result'})")
        batch_id, index = leaf_position(rid)
        try:
            leaves, outputs = self.client.system.batch_posted(batch_id)
        except ValueError as exc:   # an entry batch, or events this client cannot read
            raise ClientError(f"request {self.id}: leaf {index} of batch {batch_id}: {exc}") from None
        if leaves[index].request_id != self.id:
            raise ClientError(f"leaf {index} of batch {batch_id} answers request {leaves[index].request_id}, "
                              f"not {self.id}")
        hashes = [x.hash() for x in leaves]   # each output hashed as its leaf commits it (a graph model: tensor root)
        if batch_root(hashes) != self.client.system.batch(batch_id).root:
            raise ClientError(f"batch {batch_id}: the leaves rebuilt from its ResultPosted events do not hash to its "
                              "root")
        return LeafProof(batch_id, index, leaves[index], leaf_proof(hashes, index), outputs[index])

    def events(self) -> list[Event]:
        """This request's events so far: created, results posted, games, finalized or cancelled, callback."""
        return [e for e in self.client.events(request_id=self.id)]

    def cancel(self) -> int:
        """Cancel it (the requester, after its deadline, while unanswered); returns the fee credited back."""
        return self.client.system.cancel_request(self.id, sender=self.client.address)


ENTRY_END_STATES = ("FINALIZED", "VOID", "CANCELLED")


class Entry:
    """Entry `index` of a request batch (docs/game-rules.md §3b), named by its request id `ref`."""

    def __init__(self, client: Client, ref: int) -> None:
        from contracts.batches import entry_position

        self.client = client
        self.id = ref
        self.request_batch, self.index = entry_position(ref)

    def __repr__(self) -> str:
        return f"Entry({self.request_batch}:{self.index}, {self.state.state})"

    @property
    def state(self) -> Any:
        """An optimist.entries.EntryState: `.state` (OPEN, ANSWERED, WINDOW_OVER, FINALIZED, DISPUTED, VOID,
        REOPENED, CANCELLED, EXPIRED) and `.words` (what it means), read fresh from the chain."""
        from optimist.entries import EntryError, entry_state

        try:
            return entry_state(self.client.system, self.id, self.client.from_block)
        except EntryError as exc:
            raise ClientError(str(exc)) from None

    def wait(self, timeout: float = 3600.0, poll: float = 1.0) -> Entry:
        """Block until the entry is finalized, void or cancelled; TimeoutError after `timeout` seconds."""
        end = time.monotonic() + timeout
        while (st := self.state).state not in ENTRY_END_STATES:
            if time.monotonic() >= end:
                raise TimeoutError(f"entry {self.request_batch}:{self.index} is still {st.state} after {timeout} s "
                                   f"({st.words})")
            time.sleep(poll)
        return self

    def result(self) -> Result:
        """The finalized answer. Undisputed: the leaf from its postEntries calldata, proven by the leafOutcome
        view, output bytes from that transaction's calldata or blobs checked against the leaf's output hash.
        Disputed: as an ordinary request. ClientError before finalization (with the state in words)."""
        from optimist.entries import EntryError, entry_outcome

        system = self.client.system
        info = system.get_request(self.id)
        rid = info.result_id
        if info.status == RequestStatus.FINALIZED and not (
                is_leaf(rid) and system.batch(leaf_position(rid)[0]).request_batch):
            return Request(self.client, self.id).result()   # reopened and answered as an ordinary request
        try:
            o = entry_outcome(system, self.id, self.client.from_block, self.client.beacon_url)
        except EntryError as exc:
            raise ClientError(str(exc)) from None
        return Result(self.id, o.result_id, o.outcome, o.exit_code, o.steps, o.output, o.operator)


    def leaf_proof(self) -> LeafProof:
        """The entry batch leaf answering it, with its inclusion proof and output bytes (checked against the leaf):
        what OptimistBatches.leafOutcome takes to prove the answer on-chain once final. ClientError when no leaf
        stands for it (unanswered, rejected, void, cancelled; the state in words) or when it was answered again as an
        ordinary request after a game rejected its leaf (read it with result(); on-chain, Optimist.outcomeOf)."""
        from optimist.entries import EntryError, answer_output

        st = self.state
        answer = st.answer
        info = self.client.system.get_request(self.id)
        if info.result_id and not is_leaf(info.result_id):
            raise ClientError(f"entry {self.request_batch}:{self.index} is answered by single result "
                              f"{info.result_id}, not a batch leaf: read it with result() (on-chain: outcomeOf)")
        if answer is None:
            raise ClientError(f"entry {self.request_batch}:{self.index} has no standing leaf: {st.words}")
        try:
            output = answer_output(self.client.system, answer, self.client.beacon_url)
        except EntryError as exc:
            raise ClientError(str(exc)) from None
        proof = leaf_proof([x.hash() for x in answer.leaves], answer.position)
        return LeafProof(answer.batch_id, answer.position, answer.leaf, proof, output)


class RequestBatch:
    """A request batch sent by this client: `.id`, `.entries` (one Entry per input, in order), `.submitted`
    (gas, blob gas, how the inputs travelled)."""

    def __init__(self, client: Client, submitted: Any) -> None:
        self.client = client
        self.submitted = submitted
        self.id: int = submitted.request_batch_id
        self.entries = [Entry(client, ref) for ref in submitted.refs]

    def __repr__(self) -> str:
        return f"RequestBatch({self.id}, {len(self.entries)} entries, {self.submitted.via})"

    def cancel(self) -> int:
        """The requester, after the deadline: cancel every entry nobody took; returns how many."""
        return self.client.system.cancel_entries(self.id, sender=self.client.address)


class Client:
    """Talks to one Optimist deployment as one account (`key`: a private key or a LocalAccount; None for
    a read-only client, or an unlocked node account given as `account`); `beacon_url`: the beacon API that
    entry outputs in blobs are read from (else anvil's method)."""

    def __init__(self, rpc_url: str | Web3, key: str | bytes | LocalAccount | None = None, *,
                 deployment: str | Path | dep.Deployment | None = None, address: str | None = None,
                 from_block: int | None = None, account: str | None = None, beacon_url: str | None = None) -> None:
        from contracts.chain import http_web3

        w3 = http_web3(rpc_url) if isinstance(rpc_url, str) else rpc_url
        if address is None:
            d = deployment if isinstance(deployment, dep.Deployment) else dep.load(deployment)
            if d.chain_id != w3.eth.chain_id:
                raise ClientError(f"the deployment is on chain {d.chain_id}, the node is chain {w3.eth.chain_id}")
            address, from_block = d.optimist, d.block if from_block is None else from_block
        self.account: LocalAccount | None = None
        if key is not None:
            from web3.middleware import SignAndSendRawMiddlewareBuilder

            self.account = key if isinstance(key, LocalAccount) else Account.from_key(key)
            w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(self.account), layer=0)
            account = self.account.address
        self.address: str | None = account
        self.system = System(w3, Web3.to_checksum_address(address), deploy_block=from_block or 0)
        self.from_block = from_block or 0
        self.beacon_url = beacon_url   # blobs (entry outputs) from this beacon API, else from anvil

    @classmethod
    def from_system(cls, system: System, account: str | None = None, from_block: int | None = None, *,
                    key: LocalAccount | None = None, beacon_url: str | None = None) -> Client:
        """A client on an existing System wrapper, sending as `account` (an address the node signs for);
        `key`: that account's LocalAccount (blob transactions are signed locally)."""
        self = cls.__new__(cls)
        self.account, self.address, self.system = key, account, system
        self.from_block = system.deploy_block if from_block is None else from_block
        self.beacon_url = beacon_url
        return self

    @property
    def w3(self) -> Web3:
        return self.system.w3

    def _sender(self) -> str:
        if self.address is None:
            raise ClientError("this client has no account: pass key=... to send transactions")
        return self.address

    def input_bytes(self, model_id: int, x: Any, dtype: str = "<f4") -> bytes:
        """`x` (bytes, or numbers: an array, a list) as the model's input bytes, length checked."""
        data = _as_bytes(x, dtype, "the input")
        from contracts.system import ContractRevert

        try:
            want = self.system.model(model_id).input_length
        except ContractRevert:   # a graph model (two-phase games), or no model (graph_model names it)
            want = self.system.graph_model(model_id).input_length
        if len(data) != want:
            raise ClientError(f"model {model_id} takes {want} input bytes, got {len(data)}")
        return data

    def request(self, model_id: int, x: Any, *, fee: int = 0, callback: str | None = None,
                callback_gas: int = 200_000, deadline: int | None = None, dtype: str = "<f4") -> Request:
        """Request `model_id` on `x` paying `fee` wei. `callback`: an IOptimistConsumer contract called with
        `callback_gas` gas when the result finalizes. `deadline`: unix time after which an unanswered
        request may be cancelled (default: the contract's maximum, 30 days)."""
        fee = _wei("fee", fee)
        data = self.input_bytes(model_id, x, dtype)
        _check_deadline(self.w3, deadline)
        rid = self.system.request(model_id, data, fee=fee, sender=self._sender(), deadline=deadline,
                                  callback=callback, callback_gas=callback_gas)
        return Request(self, rid)

    def request_batch(self, model_id: int, xs: Iterable[Any], *, fee_each: int = 0, blobs: bool | None = None,
                      deadline: int | None = None, dtype: str = "<f4") -> RequestBatch:
        """Request `model_id` on every input of `xs` in one transaction (docs/game-rules.md §3b), paying `fee_each`
        wei per entry. `blobs`: True = inputs in EIP-4844 blobs (ClientError on a chain without them; needs a
        `key`), False = in calldata, None = blobs when the chain supports them and this client holds a key.
        Program and graph models, not generation models; `deadline`: unix time after which untaken entries may
        be cancelled."""
        import numpy as np

        from optimist.entries import EntryError, submit_request_batch

        fee_each = _wei("fee_each", fee_each)
        if isinstance(xs, bytes | bytearray | str):
            raise ClientError("xs is a list of inputs (each bytes or numbers): pass [x] for one input")
        inputs = [_as_bytes(x, dtype, f"input {i}") for i, x in enumerate(xs)]
        try:
            sub = submit_request_batch(self.system, model_id, inputs, fee_each, sender=self._sender(), blobs=blobs,
                                       private_key=self.account.key if self.account is not None else None,
                                       deadline=deadline)
        except EntryError as exc:
            size = np.dtype(dtype).itemsize
            if len(inputs) > 1 and all(len(x) == size for x in inputs) and "input bytes" in str(exc):
                raise ClientError(f"{exc}: xs looks like one input (one number per item), not a list of inputs; "
                                  "pass [x] for one input") from None
            raise ClientError(str(exc)) from None
        return RequestBatch(self, sub)

    def entry(self, ref: int) -> Entry:
        """An entry of a request batch by its request id (contracts.batches.entry_ref(rb, i))."""
        from contracts.batches import is_entry

        if not is_entry(ref):
            raise ClientError(f"request {ref} is not a request-batch entry")
        entry = Entry(self, ref)
        _ = entry.state   # ClientError for an unknown batch or index
        return entry

    def get(self, request_id: int) -> Request | Entry:
        """A request made earlier (by anyone); an Entry for a request-batch entry's id."""
        from contracts.batches import is_entry

        if is_entry(request_id):
            return self.entry(request_id)
        if self.system.get_request(request_id).status == RequestStatus.NONE:
            raise ClientError(f"unknown request id {request_id}")
        return Request(self, request_id)

    def withdraw(self) -> int:
        """Take what the contract credited this account (refunds, fees); returns wei."""
        return self.system.withdraw(sender=self._sender())

    def events(self, names: Iterable[str] | None = None, *, request_id: int | None = None,
               from_block: int | None = None, follow: bool = False, poll: float = 1.0) -> Iterator[Event]:
        """Optimist events in chain order from `from_block` (default: the deployment block): those named
        in `names` and, with `request_id`, only that request's (its results' and games' too). `follow`:
        keep polling for new blocks after the last one (stop by breaking out of the loop)."""
        wanted = set(names) if names is not None else None
        results: set[int] = set()
        games: set[int] = set()
        start = self.from_block if from_block is None else from_block
        while True:
            head = self.w3.eth.block_number
            if start <= head:
                for ev in self.system.events_since(start, head):
                    if request_id is not None and not _belongs(ev, request_id, results, games):
                        continue
                    if wanted is None or ev.name in wanted:
                        yield ev
                start = head + 1
            if not follow:
                return
            time.sleep(poll)


def _belongs(ev: Event, request_id: int, results: set[int], games: set[int]) -> bool:
    """Whether `ev` concerns `request_id`; learns its result and game ids on the way."""
    args = ev.args
    if args.get("requestId") == request_id:
        if "resultId" in args:
            results.add(args["resultId"])
        if ev.name == "GameOpened":
            games.add(args["gameId"])
        return True
    if ev.name == "GameOpened" and args["resultId"] in results:
        games.add(args["gameId"])
        return True
    if "gameId" in args and args["gameId"] in games:
        return True
    return "resultId" in args and args["resultId"] in results and ev.name != "GameOpened"
