"""The operator's worker processes (challenger.pool, `optimist operator --workers N`): what a worker computes
is what the daemon computes in-process, bit for bit; a worker's exception or death is one request's logged
error, never the daemon's; the pool is gone after close; two operators racing for a request both live on."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import challenger.pool as pool_module
from challenger.graph_games import GraphModel, GraphTrace
from challenger.models import MinidnnModel, ModelError, Trace, toy_model
from challenger.pool import GraphRun, InferencePool, RunClaim, graph_trace
from contracts.system import Outcome, RequestStatus
from optimist.bench.run import BUNDLED_DIR, mdnn_for
from optimist.cli import main
from optimist.world import World

WINDOW, CLOCK, BOND, FEE = 600, 300, 10**17, 10**16
TRAP = (0x7A7A7A7A).to_bytes(4, "little")     # the toy's last input word that ends in a `break`


def toy_input(seed: int, last: bytes | None = None) -> bytes:
    data = bytes((seed * 7 + i) % 256 for i in range(64))
    return data[:60] + last if last is not None else data


@pytest.fixture(scope="module")
def toy():
    return toy_model(engine="stepper")


@pytest.fixture(scope="module")
def mnist_path() -> Path:
    return mdnn_for(BUNDLED_DIR / "mlp_digits.onnx")


def mnist_input(seed: int) -> bytes:
    return np.random.default_rng(seed).random(784, dtype=np.float32).tobytes()


def same_as_trace(claim: RunClaim, trace: Trace, native: bytes | None) -> None:
    assert (claim.output, claim.final_packed, claim.output_proof(), claim.steps, claim.outcome, claim.exit_code,
            claim.final_hash) == (trace.output, trace.final_packed, trace.output_proof(), trace.steps,
                                  trace.outcome, trace.exit_code, trace.final_hash)
    assert claim.native == native
    assert claim.pid != os.getpid()


def test_workers_compute_what_the_daemon_computes_bit_for_bit(toy, mnist_path: Path) -> None:
    mnist = MinidnnModel(mnist_path)
    graph = GraphModel(mnist_path)
    pool = InferencePool([toy, mnist, graph], 2)
    try:
        jobs = [(toy, toy_input(1)), (toy, toy_input(2, TRAP)), (mnist, mnist_input(3)), (mnist, mnist_input(4))]
        futures = [pool.submit(m, x, max_steps=m.image.max_steps, engine="stepper" if m is toy else None)
                   for m, x in jobs]
        graph_future = pool.submit(graph, mnist_input(5), max_steps=0)
        for (m, x), fut in zip(jobs, futures, strict=True):
            trace = Trace(m, x, engine="stepper" if m is toy else None)
            claim = fut.result(timeout=300)
            same_as_trace(claim, trace, m.infer(x) if trace.outcome == Outcome.SUCCESS else None)
        assert [f.result().outcome for f in futures] == [Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS,
                                                          Outcome.SUCCESS]
        run = graph_future.result(timeout=300)
        assert isinstance(run, GraphRun) and run.failed is None
        rebuilt, direct = graph_trace(graph, mnist_input(5), run), GraphTrace(graph, mnist_input(5))
        assert rebuilt.phase1.commitments == direct.phase1.commitments
        assert rebuilt.phase1.tensors == direct.phase1.tensors
        assert (rebuilt.output, rebuilt.final_packed, rebuilt.output_proof(), rebuilt.steps, rebuilt.outcome) == \
            (direct.output, direct.final_packed, direct.output_proof(), direct.steps, direct.outcome)
        assert rebuilt.hash_at(1) == direct.hash_at(1)
        assert len(set(pool.pids())) == 2
    finally:
        pool.close()
    assert pool.pids() == []


def test_a_worker_exception_is_that_requests_error_and_the_pool_goes_on(toy) -> None:
    pool = InferencePool([toy], 2)
    try:
        bad = pool.submit(toy, b"\x01" * 10, max_steps=toy.image.max_steps)
        with pytest.raises(ModelError, match="input is 10 bytes; the model takes exactly 64"):
            bad.result(timeout=300)
        good = pool.submit(toy, toy_input(1), max_steps=toy.image.max_steps, engine="stepper")
        assert good.result(timeout=300).output == toy.infer(toy_input(1))
    finally:
        pool.close()


def test_a_model_the_workers_cannot_load_is_not_pooled(toy) -> None:
    class Custom:
        name = "custom"

    pool = InferencePool([toy, Custom()], 2)
    assert pool.handles(toy) and not pool.handles(Custom())
    pool.close()   # never started: nothing to stop


def test_workers_option_is_validated() -> None:
    result = CliRunner().invoke(main, ["operator", "--model", "toy", "--workers", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--workers': 0 is not in the range 1<=x<=1024" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------ the operator with a pool

@pytest.fixture
def world(toy, tmp_path: Path) -> World:
    return World.on_eth_tester(toy, window=WINDOW, clock=CLOCK, result_bond=BOND, challenge_bond=BOND,
                               db_dir=tmp_path, trace_interval=4096, engine="stepper")


def status(world: World, rid: int) -> RequestStatus:
    return world.system.get_request(rid).status


def events(op: Any) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    op.listeners.append(lambda event, fields: seen.append((event, fields)))
    return seen


def test_operator_with_workers_posts_what_the_workers_computed(world: World, toy) -> None:
    op = world.operator(background=True, workers=2)
    ch = world.challenger()
    seen = events(op)
    try:
        assert op.pool is not None and op.workers == 2
        rids = [world.request(toy_input(i), fee=FEE) for i in range(5)]
        world.run_until(lambda: all(status(world, r) == RequestStatus.POSTED for r in rids), [op, ch])
        runs = [f for e, f in seen if e == "vm_run"]
        assert sorted(f["request"] for f in runs) == rids
        assert {f["worker"] for f in runs} <= set(op.pool.pids()) and os.getpid() not in {f["worker"] for f in runs}
        ch.tick()
        assert [r["verdict"] for r in ch.store.results()] == ["agree"] * 5
        # the workers finish in any order: each result answers its own request
        assert {r["request_id"]: bytes(r["output"]) for r in ch.store.results()} == \
            {rid: toy.infer(toy_input(i)) for i, rid in enumerate(rids)}
        assert op.metrics.inferred_total >= 5 and op.metrics.inferences_per_second() > 0
        op._throughput_at -= 31                   # the next tick logs the throughput line
        op.tick()
        (line,) = [f for e, f in seen if e == "throughput"]
        assert line["inferences"] == op.metrics.inferred_total and line["workers"] == 2 and line["per_s"] > 0
        world.settle([op, ch])
        assert all(status(world, r) == RequestStatus.FINALIZED for r in rids)
        assert world.contract_balance() == 0 and not op._claims and not op._pooled
    finally:
        op.close()
        ch.close()
    assert op.pool.pids() == []


def test_a_dying_or_failing_worker_fails_only_its_request(world: World, toy, monkeypatch, caplog) -> None:
    """A run that kills its worker (SIGKILL) breaks every run in flight: those run again, each alone; the
    one that kills its worker alone too is failed. A run that raises fails its request. The rest post."""
    kill, boom = toy_input(90), toy_input(91)
    real = pool_module.compute_with

    def patched(model: Any, input_bytes: bytes, *args: Any) -> Any:   # inherited by the forked workers
        if input_bytes == kill:
            os.kill(os.getpid(), signal.SIGKILL)
        if input_bytes == boom:
            raise RuntimeError("out of luck")
        return real(model, input_bytes, *args)

    monkeypatch.setattr(pool_module, "compute_with", patched)
    op = world.operator(background=True, workers=2)
    op.pool = InferencePool(op.models, 2, context="fork")   # fork: the workers see the patch
    seen = events(op)
    caplog.set_level(logging.INFO, logger="optimist.operator")
    try:
        good = [world.request(toy_input(i), fee=FEE) for i in range(4)]
        bad_kill, bad_raise = world.request(kill, fee=2 * FEE), world.request(boom, fee=2 * FEE)
        world.run_until(lambda: all(status(world, r) == RequestStatus.POSTED for r in good)
                        and op.store.request(bad_kill)["status"] == "failed", [op], max_ticks=2000)
        assert status(world, bad_kill) == status(world, bad_raise) == RequestStatus.OPEN
        failed = {f["request"]: f["error"] for e, f in seen if e == "request_failed"}
        assert failed[bad_raise] == "worker error: RuntimeError: out of luck"
        assert "died" in failed[bad_kill] and op.store.request(bad_kill)["status"] == "failed"
        died = [r for r in caplog.records if getattr(r, "event", None) == "worker_died"]
        assert died and all(r.levelno == logging.ERROR for r in died)
        assert op.pool.restarts >= 2      # the run with others, then alone
        assert op.tick() == 0             # alive, and nothing left to do
    finally:
        op.close()


def test_two_operators_racing_for_a_request(world: World, toy) -> None:
    """B computes a request in its pool; A posts it in between: B's post reverts RequestNotOpen, a lost race
    (no bond spent), and B drops the request. With batches: B's batch reverts on the taken request and B
    posts the other one at the next tick, without waiting for another interval. Every bond comes back."""
    a = world.operator(min_fee=2 * FEE)          # A answers only the well-paid request of each pair
    bs = []
    try:
        for round_, batch in enumerate((None, 3600.0)):
            b = world.operator(background=True, workers=2, batch_interval=batch)
            bs.append(b)
            seen = events(b)
            contested = world.request(toy_input(10 + 2 * round_), fee=2 * FEE)
            other = world.request(toy_input(11 + 2 * round_), fee=FEE)

            raced: list[int] = []
            send = b.send

            def racing_send(key: str, function: str, *args: Any, contested: int = contested, send=send,
                            raced: list[int] = raced, **kw: Any) -> bool:
                """A posts the contested request just before B's first transaction that claims it."""
                claimed = [args[0]] if function == "postResult" else \
                    [c[0] for c in args[1]] if function == "postBatch" else []
                if contested in claimed and not raced:
                    raced.append(a.tick())        # A computes inline and posts it first
                return send(key, function, *args, **kw)

            b.send = racing_send
            if batch is not None:                 # both claims computed and held, then the batch is due
                world.run_until(lambda b=b, want={contested, other}: want <= {
                    rid for claims in b.batcher.ready.values() for rid in claims}, [b], max_ticks=2000)
                b.batcher.last_post -= batch
            world.run_until(lambda r=other, raced=raced: bool(raced) and status(world, r) == RequestStatus.POSTED,
                            [b], max_ticks=2000, advance_when_idle=1)   # a lost batch goes again at the next tick
            assert raced == [1]
            lost = [f for e, f in seen if e == "race_lost"]
            assert [f["error"] for f in lost] == ["RequestNotOpen"]
            posted = [e for e in world.system.events_since(world.deploy_block)
                      if e.name == "ResultPosted" and e["requestId"] in (contested, other)]
            assert sorted((e["requestId"], e["operator"]) for e in posted) == [(contested, a.me), (other, b.me)]
            assert b.store.request(contested)["status"] == "posted"
            assert contested not in b._claims and contested not in b._pooled
            if batch is not None:
                assert [e["count"] for e in world.system.events_since(world.deploy_block)
                        if e.name == "BatchPosted"] == [1]
        world.settle([a, *bs])
        assert world.contract_balance() == 0      # every bond and fee paid out: nothing lost to the races
    finally:
        for b in bs:
            b.close()


def test_workers_are_gone_after_close(world: World) -> None:
    op = world.operator(background=True, workers=2)
    try:
        rid = world.request(toy_input(1), fee=FEE)
        world.run_until(lambda: status(world, rid) == RequestStatus.POSTED, [op])
        pids = op.pool.pids()     # workers start on demand: one per run in flight, up to 2
        assert pids and os.getpid() not in pids
    finally:
        op.close()
    assert op.pool.pids() == []
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")]


def test_a_game_on_a_pooled_result_is_played_from_a_run_in_the_daemon(world: World) -> None:
    """The pool sends back only what the result posts: a game's hashes come from the run recomputed in the
    daemon (the game lane), which beats a lying challenger."""
    op, liar = world.operator(background=True, workers=2), world.challenger(dishonest=True)
    try:
        rid = world.request(toy_input(5), fee=FEE)
        world.run_until(lambda: bool(liar.store.games()) and liar.store.games()[0]["status"] != "active",
                        [op, liar], max_ticks=2000)
        assert liar.store.games()[0]["status"] == "defender_won"
        assert rid not in op._claims and rid in op._honest and op.pool is not None
        world.settle([op, liar])
        assert status(world, rid) == RequestStatus.FINALIZED and world.contract_balance() == 0
    finally:
        op.close()


def test_a_dishonest_operator_computes_in_its_own_process(world: World, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="optimist.operator")
    liar = world.operator(dishonest=True, background=True, workers=2)
    assert liar.pool is None and liar.workers == 1
    assert [r.event for r in caplog.records if getattr(r, "event", None)] == ["workers_ignored"]
    with pytest.raises(ValueError, match="workers must be at least 1"):
        world.operator(workers=0)
