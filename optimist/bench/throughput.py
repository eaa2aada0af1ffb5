"""Operator inferences per second (challenger.pool, `optimist operator --workers N`), 1 worker against every core.

A request is computed as the operator daemon computes it before posting: for a VM model the VM run to halt (the
result's final state and output proof) and the native check of its output (`challenger.pool.compute_with`);
for the same model served two-phase, the native phase-1 trace node by node and the `GraphTrace` the daemon
rebuilds from it. `1 worker` runs them one after another in this process (`--workers 1`, the daemon's own
thread); `N workers` gives them all to a pool of N processes (started and warmed up before the clock runs:
each worker has loaded the model) and waits for the last. Each configuration is timed `runs` times over the
same distinct inputs; the figures are the median and the best of those runs, in inferences per second.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

GRAPH_FACTOR = 10     # phase-1 traces are ~10x cheaper than VM runs: that many more requests per run


def _inputs(length: int, count: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.random(length // 4, dtype=np.float32).tobytes() for _ in range(count)]


def _rates(run: Callable[[], None], count: int, runs: int) -> tuple[float, float]:
    """(median, best) inferences per second of `run`, which computes `count` requests."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return count / statistics.median(times), count / min(times)


def _in_process(model: Any, inputs: list[bytes], max_steps: int) -> Callable[[], None]:
    from challenger.graph_games import GraphTrace
    from challenger.pool import compute_with

    def run() -> None:
        for x in inputs:
            if getattr(model, "graph", False):
                GraphTrace(model, x)
            else:
                compute_with(model, x, max_steps, None, None)
    return run


def _pooled(pool: Any, model: Any, inputs: list[bytes], max_steps: int) -> Callable[[], None]:
    from challenger.pool import graph_trace

    def run() -> None:
        futures = [pool.submit(model, x, max_steps=max_steps) for x in inputs]
        for x, fut in zip(inputs, futures, strict=True):
            result = fut.result()
            if getattr(model, "graph", False):
                graph_trace(model, x, result)
    return run


def measure_throughput(mdnn: Path, *, requests: int = 24, runs: int = 3, workers: int | None = None,
                       seed: int = 11) -> dict[str, Any]:
    """{"operator_inferences_per_s": {"1 worker": median, "N workers": median}, "..._best", "..._per_core",
    "operator_pool_speedup", "operator_two_phase_inferences_per_s"} for the model in `mdnn`."""
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
    out: dict[str, dict[str, float]] = {"vm": {}, "vm_best": {}, "graph": {}}
    for model, inputs, key in ((vm_model, vm_inputs, "vm"), (graph, graph_inputs, "graph")):
        _in_process(model, inputs[:2], max_steps)()       # warm-up: the model loaded, the VM image built
        median, best = _rates(_in_process(model, inputs, max_steps), len(inputs), runs)
        out[key]["1 worker"] = median
        if key == "vm":
            out["vm_best"]["1 worker"] = best
    pool = InferencePool([vm_model, graph], workers)
    try:
        for model, inputs, key in ((vm_model, vm_inputs, "vm"), (graph, graph_inputs, "graph")):
            _pooled(pool, model, inputs[:2 * workers], max_steps)()   # every worker up, the model loaded
            median, best = _rates(_pooled(pool, model, inputs, max_steps), len(inputs), runs)
            out[key][label] = median
            if key == "vm":
                out["vm_best"][label] = best
    finally:
        pool.close()
    return {
        "operator_inferences_per_s": out["vm"],
        "operator_inferences_per_s_best": out["vm_best"],
        "operator_inferences_per_s_per_core": {"1 worker": out["vm"]["1 worker"],
                                               label: out["vm"][label] / workers},
        "operator_pool_speedup": out["vm"][label] / out["vm"]["1 worker"],
        "operator_two_phase_inferences_per_s": out["graph"],
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
    print(f"every core / 1 worker: {figures['operator_pool_speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
