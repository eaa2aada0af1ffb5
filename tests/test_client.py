"""optimist.client on eth-tester with the toy program and an operator daemon driven in-process: a request
with a callback is answered, waited for, read (output checked against the stored hash) and followed
through its events; misuse is a ClientError, not a traceback from web3."""

from __future__ import annotations

import pytest

from challenger.models import toy_model
from contracts.compile import compile_contracts
from contracts.system import Outcome, RequestStatus, deploy_contract
from optimist.client import Client, ClientError
from optimist.world import World
from tests.contracts_world import FIXTURES

WINDOW = 600
TOY_INPUT = bytes(range(64))


@pytest.fixture(scope="module")
def model():
    return toy_model(engine="stepper")


@pytest.fixture
def world(model, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=300, db_dir=tmp_path, engine="stepper")


def test_request_wait_result_and_events(world: World, model) -> None:
    consumer = deploy_contract(world.w3, compile_contracts(FIXTURES)["RecordingConsumer"])
    key = world.fund()
    client = Client(world.w3, key, address=world.system.address, from_block=world.deploy_block)
    req = client.request(world.model_id, TOY_INPUT, fee=10**15, callback=consumer.address)
    assert req.status == RequestStatus.OPEN and req.info.requester == key.address
    assert req.info.callback == consumer.address
    with pytest.raises(ClientError, match="not FINALIZED"):
        req.result()
    with pytest.raises(TimeoutError):
        req.wait(timeout=0.05, poll=0.01)
    op = world.operator()
    world.run_until(lambda: req.status == RequestStatus.POSTED, [op])
    world.advance_time(WINDOW + 2)
    world.run_until(lambda: req.status == RequestStatus.FINALIZED, [op])
    assert req.wait(timeout=1) is req
    res = req.result()
    assert (res.outcome, res.exit_code, res.operator) == (Outcome.SUCCESS, 0, op.me)
    assert res.output == model.infer(TOY_INPUT) == consumer.functions.lastOutput().call()
    assert len(res.values) == len(res.output) // 4
    names = [e.name for e in req.events()]
    assert names == ["RequestCreated", "ResultPosted", "ResultFinalized", "CallbackCalled"]
    assert [e["requestId"] for e in client.events(["RequestCreated"])] == [req.id]
    assert client.get(req.id).status == RequestStatus.FINALIZED


def test_follow_yields_new_events_as_they_come(world: World) -> None:
    client = Client.from_system(world.system, world.w3.eth.accounts[0])
    stream = client.events(["RequestCreated"], follow=True, poll=0.01)
    first = client.request(world.model_id, TOY_INPUT)
    assert next(stream)["requestId"] == first.id
    second = client.request(world.model_id, list(range(16)), dtype="<u4")
    assert next(stream)["requestId"] == second.id


def test_misuse_is_a_client_error(world: World) -> None:
    reader = Client(world.w3, address=world.system.address)
    with pytest.raises(ClientError, match="no account"):
        reader.request(world.model_id, TOY_INPUT)
    client = Client.from_system(world.system, world.w3.eth.accounts[0])
    with pytest.raises(ClientError, match="takes 64 input bytes, got 63"):
        client.request(world.model_id, TOY_INPUT[:-1])
    with pytest.raises(ClientError, match="unknown request id 99"):
        client.get(99)


def test_the_documented_example_runs(capsys) -> None:
    import runpy
    from pathlib import Path

    example = runpy.run_path(str(Path(__file__).parents[1] / "examples" / "client_example.py"))
    assert example["main"]() == ["RequestCreated", "ResultPosted", "ResultFinalized"]
    assert "outcome SUCCESS" in capsys.readouterr().out
