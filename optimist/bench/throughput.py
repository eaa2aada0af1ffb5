"""Operator inferences per second (challenger.pool, `optimist operator --workers N`), 1 worker against every core.

A request is computed as the operator daemon computes it before posting: for a VM model the VM run to halt (the
result's final state and output proof) and the native check of its output (`challenger.pool.compute_with`);
for the same model served two-phase, the native phase-1 trace node by node and the `GraphTrace` the daemon
rebuilds from it. `1 worker` runs them one after another in this process (`--workers 1`, the daemon's own
thread); `N workers` gives them all to a pool of N processes (started and warmed up before the clock runs:
each worker has loaded the model) and waits for the last. Each configuration is timed `runs` times over the
same distinct inputs; the figures are the median and the best of those runs, in inferences per second.
Beside them, what does not depend on other work on the machine as much: the CPU time per inference (this
process's; the workers' own, as they report it) and how busy the workers were (their compute time over the
run's wall time x workers: below 1 only if they waited for the daemon's side).

    python -m optimist.bench.throughput MODEL.mdnn [--requests 24] [--runs 3] [--workers N] [--json]
    (the bench measures the MNIST MLP: optimist convert examples/models/mlp_digits.onnx -o mlp.mdnn)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GRAPH_FACTOR = 10     # phase-1 traces are ~10x cheaper than VM runs: that many more requests per run


def _inputs(length: int, count: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.random(length // 4, dtype=np.float32).tobytes() for _ in range(count)]


@dataclass
class Timing:
    """One configuration's timed runs: wall seconds of each, and per inference its CPU seconds and (pool)
    the fraction of the run's wall time x workers the workers spent computing."""

    walls: list[float]
    cpu: list[float]
    busy: list[float]

    def rates(self, count: int) -> tuple[float, float]:
        """(median, best) inferences per second."""
        return count / statistics.median(self.walls), count / min(self.walls)


def _in_process(model: Any, inputs: list[bytes], max_steps: int, runs: int) -> Timing:
    """`runs` timed runs computing `inputs` one after another here (the daemon's own thread does the same)."""
    from challenger.graph_games import GraphTrace
    from challenger.pool import compute_with

    timing = Timing([], [], [])
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        for x in inputs:
            if getattr(model, "graph", False):
                GraphTrace(model, x)
            else:
                compute_with(model, x, max_steps, None, None)
        timing.walls.append(time.perf_counter() - t0)
        timing.cpu.append((time.process_time() - c0) / len(inputs))
    return timing


def _pooled(pool: Any, model: Any, inputs: list[bytes], max_steps: int, runs: int) -> Timing:
    """`runs` timed runs giving `inputs` to the pool at once and collecting every result as the daemon does
    (a graph model's GraphTrace rebuilt here)."""
    from challenger.pool import graph_trace

    timing = Timing([], [], [])
    for _ in range(runs):
        t0 = time.perf_counter()
        futures = [pool.submit(model, x, max_steps=max_steps) for x in inputs]
        results = []
        for x, fut in zip(inputs, futures, strict=True):
            results.append(fut.result())
            if getattr(model, "graph", False):
                graph_trace(model, x, results[-1])
        wall = time.perf_counter() - t0
        timing.walls.append(wall)
        timing.cpu.append(sum(r.cpu_seconds for r in results) / len(inputs))
        timing.busy.append(sum(r.seconds for r in results) / (wall * pool.workers))
    return timing


def measure_throughput(mdnn: Path, *, requests: int = 24, runs: int = 3, workers: int | None = None,
                       seed: int = 11) -> dict[str, Any]:
    """The bench's operator figures for the model in `mdnn` (optimist.bench.fields: operator_*), keyed
    "1 worker" and "N workers": inferences per second (median and best run, per core), CPU milliseconds per
    inference, the pool's busy fraction, the speed-up, and the same model served two-phase."""
    from challenger.graph_games import GraphModel
    from challenger.models import MinidnnModel
    from challenger.pool import InferencePool

    workers = workers or os.cpu_count() or 1
    vm_model, graph = MinidnnModel(mdnn), GraphModel(mdnn)
    max_steps = vm_model.image.max_steps
    length = vm_model.image.input_length
    vm_inputs = _inputs(length, requests, seed)
    graph_inputs = _inputs(length, requests * GRAPH_FACTOR, seed + 1)
    label = f"{workers} worker{'s' if workers > 1 else ''}" + (", pool" if workers == 1 else "")
    timings: dict[tuple[str, str], Timing] = {}
    for model, inputs in ((vm_model, vm_inputs), (graph, graph_inputs)):
        _in_process(model, inputs[:2], max_steps, 1)       # warm-up: the model loaded, the VM image built
        timings[model.name if model is graph else "vm", "1 worker"] = _in_process(model, inputs, max_steps, runs)
    pool = InferencePool([vm_model, graph], workers)
    try:
        for model, inputs in ((vm_model, vm_inputs), (graph, graph_inputs)):
            _pooled(pool, model, inputs[:2 * workers], max_steps, 1)   # every worker up, the model loaded
            timings[model.name if model is graph else "vm", label] = _pooled(pool, model, inputs, max_steps, runs)
    finally:
        pool.close()
    vm = {key: timings["vm", key].rates(requests) for key in ("1 worker", label)}
    two_phase = {key: timings[graph.name, key].rates(len(graph_inputs))[0] for key in ("1 worker", label)}
    pooled = timings["vm", label]
    return {
        "operator_inferences_per_s": {key: median for key, (median, _) in vm.items()},
        "operator_inferences_per_s_best": {key: best for key, (_, best) in vm.items()},
        "operator_inferences_per_s_per_core": {"1 worker": vm["1 worker"][0], label: vm[label][0] / workers},
        "operator_pool_speedup": vm[label][0] / vm["1 worker"][0],
        "operator_cpu_ms_per_inference": {key: 1e3 * statistics.median(timings["vm", key].cpu)
                                          for key in ("1 worker", label)},
        "operator_pool_busy": statistics.median(pooled.busy),
        "operator_two_phase_inferences_per_s": two_phase,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a .mdnn model whose input is float32")
    parser.add_argument("--requests", type=int, default=24, help="requests per timed run (default 24)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per configuration (default 3)")
    parser.add_argument("--workers", type=int, default=None, help="the pool's size (default: the CPU count)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.model.suffix != ".mdnn" or not args.model.is_file():
        parser.error(f"{args.model}: expected an existing .mdnn file")
    for name in ("requests", "runs", "workers"):
        value = getattr(args, name)
        if value is not None and not 1 <= value <= 1024:
            parser.error(f"--{name}: expected 1..1024, got {value}")
    figures = measure_throughput(args.model, requests=args.requests, runs=args.runs, workers=args.workers)
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"{'':24} {'median':>10} {'best':>10} {'per core':>10} {'two-phase':>10}  (inferences/s)")
    for key, median in figures["operator_inferences_per_s"].items():
        print(f"{key:24} {median:>10.1f} {figures['operator_inferences_per_s_best'][key]:>10.1f} "
              f"{figures['operator_inferences_per_s_per_core'][key]:>10.1f} "
              f"{figures['operator_two_phase_inferences_per_s'][key]:>10.1f}")
    print(f"every core / 1 worker: {figures['operator_pool_speedup']:.2f}x; CPU per inference: "
          + ", ".join(f"{k} {v:.1f} ms" for k, v in figures["operator_cpu_ms_per_inference"].items())
          + f"; workers busy {100 * figures['operator_pool_busy']:.0f}% of the pool's wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
