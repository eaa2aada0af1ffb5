"""The operator's runs of new requests in worker processes, on every core (`optimist operator --workers N`).

A worker computes what a result posts, with the code the daemon runs in-process, and sends back only that:

- a VM model (`MinidnnModel`, `ProgramModel`): the request's `Trace` (the VM run to halt or to the model's
  step bound) and, for a clean exit, the native output (the cffi build; the daemon posts only when both
  agree) -> a `RunClaim` (output, packed final state, output proof, steps, outcome, exit code). The run's
  snapshots stay in the worker: a game on the result recomputes the run in the daemon (as after a restart).
- a graph model (two-phase games): the native phase-1 trace node by node -> its tensors, roots and
  commitments, from which the daemon rebuilds the `GraphTrace` its games are played on (`graph_trace`).
  A request whose node fails natively needs that node's VM run: the daemon computes it in-process.

Tasks carry a model key and the input bytes; each worker loads a model once (from its path, handed over at
the worker's start) and keeps it. Workers come from a forkserver (the daemon has threads: no fork), ignore
SIGINT (the daemon stops them) and are terminated by `close`. A worker exception reaches the daemon as that
request's error; a killed worker breaks the executor (`BrokenProcessPool` for every task in flight), which
`restart` replaces.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.system import Outcome

# a model as a worker loads it: ("mdnn", path) | ("program", elf, in, out, blob, name, engine) | ("graph", path|blob, name)
ModelSpec = tuple[Any, ...]


@dataclass(frozen=True)
class RunClaim:
    """A VM model's result as a worker computed it: what postResult / a batch claim takes (like a `Trace`'s
    fields) and the native output of a clean exit (None otherwise)."""

    output: bytes
    final_packed: bytes
    proof: tuple[bytes, ...]
    steps: int
    outcome: Outcome
    exit_code: int
    final_hash: bytes
    native: bytes | None
    seconds: float          # the worker's compute time (wall)
    cpu_seconds: float      # and its CPU time
    pid: int                # the worker

    def output_proof(self) -> list[bytes]:
        return list(self.proof)


@dataclass(frozen=True)
class GraphRun:
    """A graph model's phase-1 trace as a worker computed it (`failed`: the node whose native run failed;
    then nothing else is filled in and the daemon computes the request in-process)."""

    tensors: list[bytes]
    roots: list[bytes]
    commitments: list[bytes]
    failed: int | None
    seconds: float
    cpu_seconds: float
    pid: int


def model_spec(model: Any) -> ModelSpec | None:
    """How a worker loads `model`; None for a model the workers cannot run (it is computed in-process): a
    graph model that runs every node in the VM (`verify_nodes`), or a model class this module does not know."""
    from challenger.graph_games import GraphModel
    from challenger.models import MinidnnModel, ProgramModel

    if isinstance(model, MinidnnModel):
        return ("mdnn", str(model.path))
    if isinstance(model, ProgramModel):
        return ("program", model.elf, model.input_length, model.output_length, model.blob, model.name, model.engine)
    if isinstance(model, GraphModel) and not model.verify_nodes:
        source = getattr(model, "path", None)
        return ("graph", str(source) if source is not None else model.blob, model.name)
    return None


# ------------------------------------------------------------------------------ in the worker

_SPECS: dict[int, ModelSpec] = {}
_LOADED: dict[int, Any] = {}


def _init_worker(specs: dict[int, ModelSpec]) -> None:
    """A worker's start: the models it may be asked for (loaded on first use); Ctrl-C is the daemon's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _SPECS.clear()
    _SPECS.update(specs)
    _LOADED.clear()


def _load(spec: ModelSpec) -> Any:
    from challenger.graph_games import GraphModel
    from challenger.models import MinidnnModel, ProgramModel

    kind = spec[0]
    if kind == "mdnn":
        return MinidnnModel(Path(spec[1]))
    if kind == "program":
        _, elf, input_length, output_length, blob, name, engine = spec
        return ProgramModel(elf, input_length, output_length, blob, name, engine)
    if kind == "graph":
        _, source, name = spec
        return GraphModel(Path(source) if isinstance(source, str) else source, name, cache=False)
    raise ValueError(f"unknown model kind {kind!r}")


def _model(key: int) -> Any:
    model = _LOADED.get(key)
    if model is None:
        model = _LOADED[key] = _load(_SPECS[key])
    return model


def compute(key: int, input_bytes: bytes, max_steps: int, interval: int | None, engine: str | None
            ) -> RunClaim | GraphRun:
    """The task a worker runs for one request (module level: workers import it by name)."""
    return compute_with(_model(key), input_bytes, max_steps, interval, engine)


def compute_with(model: Any, input_bytes: bytes, max_steps: int, interval: int | None, engine: str | None
                 ) -> RunClaim | GraphRun:
    """What a worker computes for `model` and one input (also callable in-process: the bench's baseline)."""
    from challenger.models import Trace

    t0, c0 = time.perf_counter(), time.process_time()
    if getattr(model, "graph", False):
        return _phase1(model, input_bytes, t0, c0)
    kwargs: dict[str, Any] = {"engine": engine, "max_steps": max_steps}
    if interval is not None:
        kwargs["interval"] = interval
    trace = Trace(model, input_bytes, **kwargs)
    native = model.infer(input_bytes) if trace.outcome == Outcome.SUCCESS else None
    return RunClaim(trace.output, trace.final_packed, tuple(trace.output_proof()), trace.steps, trace.outcome,
                    trace.exit_code, trace.final_hash, native, time.perf_counter() - t0, time.process_time() - c0,
                    os.getpid())


def _phase1(model: Any, input_bytes: bytes, t0: float, c0: float) -> GraphRun:
    from challenger.graph_games import GraphModelError
    from minidnn.native import MinidnnError
    from minidnn.phase1 import NodeFailed, run_trace

    try:
        p1 = run_trace(model.split, model.array(bytes(input_bytes)))
    except NodeFailed as exc:
        return GraphRun([], [], [], exc.node, time.perf_counter() - t0, time.process_time() - c0, os.getpid())
    except (MinidnnError, ValueError) as exc:   # as GraphTrace says it: a request the game cannot answer
        raise GraphModelError(f"{model.name}: {exc}") from None
    return GraphRun(p1.tensors, p1.roots, p1.commitments, None, time.perf_counter() - t0, time.process_time() - c0,
                    os.getpid())


# ------------------------------------------------------------------------------ in the daemon

def graph_trace(model: Any, input_bytes: bytes, run: GraphRun, *, interval: int | None = None,
                engine: str | None = None) -> Any:
    """The `GraphTrace` of a worker's phase-1 run (the same trace `GraphTrace(model, input)` computes)."""
    from challenger.graph_games import GraphTrace
    from minidnn.phase1 import Trace as Phase1Trace

    if run.failed is not None:
        raise ValueError(f"node {run.failed} failed natively: compute this request in-process")
    split = model.split.for_input(run.tensors[0])
    kwargs: dict[str, Any] = {"engine": engine}
    if interval is not None:
        kwargs["interval"] = interval
    return GraphTrace(model, input_bytes, phase1=Phase1Trace(split, run.tensors, run.roots, run.commitments),
                      **kwargs)


class InferencePool:
    """`workers` processes computing requests of `models` (those `model_spec` knows; `handles`)."""

    def __init__(self, models: Sequence[Any], workers: int, *, context: str = "forkserver") -> None:
        if workers < 1:
            raise ValueError("a pool needs at least 1 worker")
        self.workers = workers
        self._keys: dict[int, int] = {}
        self._specs: dict[int, ModelSpec] = {}
        for i, model in enumerate(models):
            spec = model_spec(model)
            if spec is not None:
                self._keys[id(model)] = i
                self._specs[i] = spec
        self._context = context
        self._executor: ProcessPoolExecutor | None = None
        self.restarts = 0

    def handles(self, model: Any) -> bool:
        return id(model) in self._keys

    def _start(self) -> ProcessPoolExecutor:
        if self._executor is None:
            ctx = mp.get_context(self._context)
            if self._context == "forkserver":
                ctx.set_forkserver_preload(["challenger.pool", "challenger.models"])
            self._executor = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                                 initargs=(self._specs,))
        return self._executor

    def submit(self, model: Any, input_bytes: bytes, *, max_steps: int, interval: int | None = None,
               engine: str | None = None) -> Future[RunClaim | GraphRun]:
        """Compute one request of `model` in a worker (KeyError for a model the pool does not handle). An
        executor broken since the last call (a worker died; its runs fail on their own) is replaced first."""
        args = (self._keys[id(model)], bytes(input_bytes), max_steps, interval, engine)
        try:
            return self._start().submit(compute, *args)
        except BrokenProcessPool:
            self.restart()
            return self._start().submit(compute, *args)

    def restart(self) -> None:
        """Replace a broken executor (a worker was killed): its tasks have all failed already."""
        self._stop(wait=False)
        self.restarts += 1

    def pids(self) -> list[int]:
        """The live workers' process ids."""
        procs = getattr(self._executor, "_processes", None) or {}
        return [p.pid for p in procs.values() if p.is_alive()]

    def _stop(self, wait: bool) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        procs = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for proc in procs:          # our own workers: a run in progress is not waited for
            if proc.is_alive():
                proc.terminate()
        if wait:
            for proc in procs:
                proc.join(10)
            executor.shutdown(wait=True)

    def close(self) -> None:
        """Stop every worker (queued tasks are cancelled, running ones ended) and wait for them to exit."""
        self._stop(wait=True)
