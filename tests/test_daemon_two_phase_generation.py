"""Two-phase games of a generation model played by the real daemons on eth-tester (docs/two-phase.md
§10): a k-token request is answered from the unrolled native trace (GenInit, k x [GenWindow, the
forward, GenSelect], the response); phase 1 bisects over the unrolled sequence; lies at the first
and at the last token, in phase 1 (a wrong node output) and in phase 2 (a wrong state inside the
node's VM run), each lose, and the honest answer finalizes; the contract refuses k outside 1..T."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from graph_world import game_over
from graph_world import request_status as status
from test_minidnn_generation import T, V, causal_lm

import minidnn
from challenger.graph_games import GraphModel, GraphTrace, lie_graph
from contracts.system import ContractRevert, RequestStatus, ResultStatus
from minidnn.generation import encode_request, generation_model
from optimist.world import World

WINDOW, CLOCK = 600, 300
BOND = 10**17
FEE = 10**16
K = 3


@pytest.fixture(scope="module")
def model() -> GraphModel:
    model = GraphModel(generation_model(causal_lm()), "causal_lm")
    model.commitment    # noqa: B018 -- measured once for the module (every template node runs in the VM)
    return model


@pytest.fixture(scope="module")
def request_bytes() -> bytes:
    return encode_request([4, 1], K, T, V, 0.7, 99).astype("<i4").tobytes()


@pytest.fixture
def world(model: GraphModel, tmp_path) -> World:
    return World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=1024)


def test_k_token_request_is_answered_over_the_unrolled_sequence(world: World, model: GraphModel,
                                                                request_bytes: bytes) -> None:
    op, ch = world.operator(), world.challenger()
    info = world.system.graph_model(world.model_id)
    assert (info.node_count, info.period) == (model.node_count, model.period) == (9, 7)
    rid = world.request(request_bytes, fee=FEE)
    world.run_until(lambda: status(world, rid) == RequestStatus.POSTED, [op, ch])
    res = world.system.result(1)
    honest = GraphTrace(model, request_bytes)
    assert res.graph and res.steps == model.node_count + (K - 1) * model.period == honest.steps == 23
    assert res.final_state_hash == honest.hash_at(23)
    ids = minidnn.Model.load(model.blob).run(np.frombuffer(request_bytes, "<i4"))
    ch.tick()
    (row,) = ch.store.results()
    assert row["verdict"] == "agree" and bytes(row["output"]) == ids.astype("<i4").tobytes()
    world.settle([op, ch])
    assert status(world, rid) == RequestStatus.FINALIZED and world.contract_balance() == 0


def test_contract_refuses_a_token_count_outside_1_to_t(world: World, request_bytes: bytes) -> None:
    for k in (0, T + 1):
        bad = bytearray(request_bytes)
        bad[4:8] = k.to_bytes(4, "little")
        with pytest.raises(ContractRevert, match="BadTensorLength"):
            world.request(bytes(bad), fee=FEE)


def test_contract_checks_a_generation_registration(world: World, model: GraphModel) -> None:
    """A template must hold more nodes than one token's, and take a request of 4 + T words; the period is
    part of what the daemons match."""
    spec = model.spec()
    for bad in (replace(spec, node_count=spec.period), replace(spec, input_length=16),
                replace(spec, input_length=spec.input_length + 2)):
        with pytest.raises(ContractRevert, match="BadNodeCount"):
            world.system.register_graph_model(bad)
    other = world.system.register_graph_model(replace(spec, period=spec.period - 1))
    info = world.system.graph_model(other)
    assert info.period == spec.period - 1
    assert not model.matches(info.nodes_root, info.node_count, info.input_length, info.output_length, info.period)
    assert model.matches(info.nodes_root, info.node_count, info.input_length, info.output_length, spec.period)


def _lie_node(model: GraphModel, token: int) -> int:
    """The logits node of token `token` (1..K): a wrong logits row changes that token's id and every later one."""
    return 2 + (token - 1) * model.period + (model.period - 2)


@pytest.mark.parametrize("kind", ["phase1", "phase2"])
@pytest.mark.parametrize("token", [1, K])
def test_lies_at_the_first_and_last_token_lose(world: World, model: GraphModel, request_bytes: bytes,
                                               kind: str, token: int) -> None:
    node = _lie_node(model, token)
    assert model.split.unroll(K).node(node).op == "MatMul"
    liar, ch, honest = world.operator(dishonest=True), world.challenger(), world.operator()
    liar.lie = lambda trace: lie_graph(trace, kind, node)
    rid = world.request(request_bytes, fee=FEE)
    liar.tick()
    lie = liar._traces[rid]
    assert lie.output != GraphTrace(model, request_bytes).output       # the lie changes the generated ids
    world.run_until(lambda: game_over(ch), [liar, ch], advance_when_idle=CLOCK + 1)
    (game,) = ch.store.games()
    assert game["status"] == "challenger_won" and game["reason"] == "proof"
    entered = ch.store.game_node(game["game_id"])
    assert entered["node"] == node                                      # phase 1 found the first wrong node
    run = lie.node_run(node)
    g = world.system.game(game["game_id"])
    if kind == "phase2":   # the proof is of the step into the first false state, inside the node's run
        assert 0 < run.diverge < run.steps and g.lo == run.diverge - 1
    else:                  # only the claimed final state was false: the proof is of the run's last step
        assert g.lo == run.steps - 1
    assert world.system.result(1).status == ResultStatus.REJECTED
    world.run_until(lambda: status(world, rid) == RequestStatus.POSTED, [honest, liar, ch])
    assert world.system.result(2).operator == honest.me
    world.settle([honest, liar, ch])
    assert status(world, rid) == RequestStatus.FINALIZED and world.contract_balance() == 0


def test_small_gpt_lie_at_the_last_token_loses(tmp_path) -> None:
    """The converted character GPT (examples/models, context 32) as a generation model: a 2-token request
    over 178 unrolled nodes; a phase-2 lie in a node of the second token loses in that node's VM run."""
    from pathlib import Path

    from converter import convert

    blob = generation_model(convert(Path(__file__).resolve().parent.parent / "examples" / "models" /
                                    "gpt_shakespeare_small.onnx").mdnn)
    model = GraphModel(blob, "gpt_shakespeare_small")
    gen = minidnn.Model.load(blob)
    k = 2
    request = encode_request([5, 9, 13], k, gen.context, gen.vocab, 0.8, 3).astype("<i4").tobytes()
    m = model.node_count + (k - 1) * model.period
    # the first Add of the last token's forward (token embedding + position): every later node of it changes
    last = model.split.unroll(k)
    node = next(j for j in range(2 + (k - 1) * model.period, m) if last.node(j).op == "Add")
    world = World.on_eth_tester(model, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                                db_dir=tmp_path)
    liar, ch = world.operator(dishonest=True), world.challenger()
    liar.lie = lambda trace: lie_graph(trace, "phase2", node)
    rid = world.request(request, fee=FEE)
    liar.tick()
    assert world.system.result(1).steps == m == 178
    world.run_until(lambda: game_over(ch), [liar, ch], advance_when_idle=CLOCK + 1)
    (game,) = ch.store.games()
    assert game["status"] == "challenger_won" and game["reason"] == "proof"
    assert ch.store.game_node(game["game_id"])["node"] == node
    assert status(world, rid) == RequestStatus.OPEN


@pytest.fixture
def refused_request(request_bytes: bytes) -> bytes:
    """A request the contract takes (k in 1..T) but the generation loop refuses: temperature -1.0."""
    bad = bytearray(request_bytes)
    bad[8:12] = (0xBF800000).to_bytes(4, "little")
    return bytes(bad)


def test_a_refused_request_ends_as_a_failure_of_its_first_node(world: World, model: GraphModel,
                                                               refused_request: bytes) -> None:
    """GenInit refuses the request natively and in the VM: the operator posts the Failure of node 1 (C_1 the
    failure hash), the challenger agrees, and the request finalizes with that outcome (every request ends)."""
    from contracts.system import Outcome

    op, ch = world.operator(), world.challenger()
    rid = world.request(refused_request, fee=FEE)
    world.run_until(lambda: status(world, rid) == RequestStatus.POSTED, [op, ch])
    res = world.system.result(1)
    assert res.graph and res.steps == 1 and res.outcome == Outcome.FAILURE and res.exit_code != 0
    honest = GraphTrace(model, refused_request)
    assert honest.failed == 1 and res.final_state_hash == honest.hash_at(1)
    ch.tick()
    (row,) = ch.store.results()
    assert row["verdict"] == "agree"
    world.settle([op, ch])
    assert status(world, rid) == RequestStatus.FINALIZED and world.contract_balance() == 0
    assert world.system.outcome(rid).outcome == Outcome.FAILURE


def test_claiming_a_refused_request_succeeded_loses(world: World, model: GraphModel,
                                                    refused_request: bytes) -> None:
    """The 'nofail' liar posts zeros as node 1's output where GenInit fails: the challenger disputes, the liar
    must enter node 1 with a clean exit it cannot prove, and loses; the honest Failure then finalizes."""
    from contracts.system import Outcome

    liar, ch, honest = world.operator(dishonest=True), world.challenger(), world.operator()
    liar.lie = lambda trace: lie_graph(trace, "nofail", 1)
    rid = world.request(refused_request, fee=FEE)
    liar.tick()
    assert world.system.result(1).outcome == Outcome.SUCCESS
    world.run_until(lambda: game_over(ch), [liar, ch], advance_when_idle=CLOCK + 1)
    (game,) = ch.store.games()
    assert game["status"] == "challenger_won"
    assert world.system.result(1).status == ResultStatus.REJECTED
    world.run_until(lambda: status(world, rid) == RequestStatus.POSTED, [honest, liar, ch])
    assert world.system.result(2).operator == honest.me and world.system.result(2).outcome == Outcome.FAILURE
    world.settle([honest, liar, ch])
    assert status(world, rid) == RequestStatus.FINALIZED and world.contract_balance() == 0
