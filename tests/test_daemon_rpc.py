"""The daemons' JSON-RPC traffic on anvil: batched reads decode as web3's own reads do, a tick costs one
read request when the head is the next block, a log read that missed the head's events is caught by its
bloom, a too-low cached gas limit is re-estimated, and a node without eth_sendRawTransactionSync is
used the old way. The bench's request counter counts what reaches the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_daemon_anvil import TOY_INPUT, deploy_world

from challenger.client import ChainClient
from challenger.models import toy_model
from challenger.store import Store
from contracts.chain import Anvil
from contracts.system import GameStatus
from optimist.bench.dispute import RequestCounter
from optimist.world import World

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="stepper")


@pytest.fixture
def node():
    with Anvil() as anvil:
        yield anvil


def counted_ticks(world: World, daemons, done, **kwargs) -> int:
    """Run the daemons until `done()`; the number of ticks they took."""
    ticks = [0]
    for d in daemons:
        tick = d.tick

        def counting(tick=tick) -> int:
            ticks[0] += 1
            return tick()

        d.tick = counting
    world.run_until(done, daemons, **kwargs)
    return ticks[0]


def test_batched_reads_decode_as_web3_reads(node: Anvil, model, tmp_path: Path) -> None:
    world, _ = deploy_world(node, model, tmp_path)
    liar, ch = world.operator(dishonest=True), world.challenger()
    world.request(TOY_INPUT)
    world.run_until(lambda: len(ch.store.moves(1)) >= 2 if ch.store.games() else False, [liar, ch])
    client = ChainClient(world.system, world.fund(), Store())
    client.begin_tick()
    head = client.head()
    views = [("games", (1,)), ("results", (1,)), ("requests", (1,)), ("gameOf", (1, ch.me)),
             ("balances", (liar.me,)), ("modelCount", ()), ("models", (world.model_id,))]
    events = client.prefetch(views, logs_from=world.deploy_block)
    assert client.batching
    assert events == world.system.events_since(world.deploy_block, head)
    for fn, args in views:
        assert client.view(fn, *args) == getattr(world.system.contract.functions, fn)(*args).call(
            block_identifier=head), fn
    assert client.game(1) == world.system.game(1)
    assert client.result(1) == world.system.result(1)
    assert client.get_request(1) == world.system.get_request(1)
    block = world.w3.eth.get_block(head)
    assert (client.latest_block()["hash"], client.latest_block()["timestamp"]) == (block["hash"], block["timestamp"])


def test_a_tick_reads_once_when_the_head_is_the_next_block(node: Anvil, model, tmp_path: Path) -> None:
    world, _ = deploy_world(node, model, tmp_path)
    liar, ch = world.operator(dishonest=True), world.challenger()
    with RequestCounter() as counter:
        with counter.paused():
            world.request(TOY_INPUT)
        ticks = counted_ticks(world, [liar, ch], lambda: bool(ch.store.games())
                              and ch.store.games()[0]["status"] != "active")
    assert world.system.game(1).status == GameStatus.CHALLENGER_WON
    sent = len(liar.store.txs("mined")) + len(ch.store.txs("mined"))
    assert sent >= 30                                     # 16 rounds, both sides
    # one read per tick and one request per transaction, plus: at start-up, per daemon, the model
    # count and models, the nonce, the balance, the first tick's head and events (12); the first
    # estimate of each kind of transaction (6); a new game's or result's views after its event (<= 6)
    assert counter.http_requests - ticks - sent <= 24, (counter.http_requests, ticks, sent, counter.by_method)
    assert counter.by_method["eth_sendRawTransactionSync"] == sent
    for method in ("eth_getTransactionReceipt", "eth_blockNumber", "eth_chainId", "eth_sendRawTransaction"):
        assert counter.by_method[method] == 0, method
    assert counter.by_method["eth_estimateGas"] <= 2 * 6  # once per kind of transaction and daemon


def test_a_log_read_that_missed_the_heads_events_is_read_again(node: Anvil, model, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    world, _ = deploy_world(node, model, tmp_path)
    op = world.operator()
    op.tick()
    cursor = op.store.cursor()
    rid = world.request(TOY_INPUT)                        # the next block holds RequestCreated
    provider = world.w3.provider
    real = provider.make_batch_request

    def stale_logs(requests):   # a node that answered the log read before the block was in
        return [{**a, "result": []} if m == "eth_getLogs" else a
                for (m, _), a in zip(requests, real(requests), strict=True)]

    monkeypatch.setattr(provider, "make_batch_request", stale_logs)
    op.client.begin_tick()
    assert op.client.read_next_block([], cursor) is None   # the head's bloom names our contract
    monkeypatch.setattr(provider, "make_batch_request", real)
    op.client.begin_tick()
    op.ingest()
    assert op.store.request(rid) is not None
    assert op.store.cursor() == world.w3.eth.block_number


def test_cached_gas_too_low_is_estimated_again(node: Anvil, model, tmp_path: Path) -> None:
    world, _ = deploy_world(node, model, tmp_path)
    liar, ch = world.operator(dishonest=True), world.challenger()
    world.request(TOY_INPUT)
    world.run_until(lambda: "respond" in ch.client._gas, [liar, ch])
    ch.client._gas["respond"] = 25_000                   # too little: the next respond runs out of gas
    world.run_until(lambda: world.system.game(1).status != GameStatus.ACTIVE, [liar, ch])
    assert world.system.game(1).status == GameStatus.CHALLENGER_WON
    reverted = ch.store.txs("reverted")
    assert len(reverted) == 1 and reverted[0].function == "respond"
    again = ch.store.tx(reverted[0].key.split("#")[0])
    assert again is not None and again.status == "mined"
    assert ch.client._gas["respond"] > 25_000


def test_a_node_without_send_sync_gets_raw_transactions(node: Anvil, model, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    world, _ = deploy_world(node, model, tmp_path)
    provider = world.w3.provider
    real = provider.make_request

    def no_sync(method, params):
        if method == "eth_sendRawTransactionSync":
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "Method not found"}}
        return real(method, params)

    monkeypatch.setattr(provider, "make_request", no_sync)
    op = world.operator()
    rid = world.request(TOY_INPUT)
    op.tick()
    assert op.client._sync_send is False
    (tx,) = op.store.txs("mined")
    assert tx.key == f"post:{rid}:0"
    assert world.w3.eth.get_transaction_receipt(tx.tx_hash)["status"] == 1


def test_request_counter_counts_http_requests_and_calls(node: Anvil) -> None:
    w3 = node.web3()
    with RequestCounter() as counter:
        w3.provider.make_batch_request([("eth_blockNumber", []), ("eth_chainId", [])])
        w3.eth.get_block("latest")
        with counter.paused():
            w3.eth.get_block("latest")
    w3.eth.get_block("latest")
    assert counter.http_requests == 2 and counter.calls == 3
    assert counter.by_method == {"eth_blockNumber": 1, "eth_chainId": 1, "eth_getBlockByNumber": 1}
