"""minidnn performance figures: VM steps, VM wall time, MIPS instructions per multiply-accumulate,
native time, for the MLP 784-128-10 (the shape of opML's MNIST model) and a LeNet-5-sized CNN.

`python -m minidnn.bench [--json]`; `benchmark(name, blob)` returns one row as a dict.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from minidnn import examples
from minidnn.format import Graph, read_model
from minidnn.image import run_vm, vm_image
from minidnn.native import Model


def count_macs(graph: Graph) -> int:
    """Multiply-accumulates of the dense and convolution nodes."""
    total = 0
    shape = {name: t.shape for name, t in graph.tensors.items()}
    for node in graph.nodes:
        out = shape[node.outputs[0]]
        if node.op == "Gemm":
            a = shape[node.inputs[0]]
            k = a[0] if node.attrs.get("trans_a") else a[1]
            total += int(np.prod(out)) * k
        elif node.op == "MatMul":
            total += int(np.prod(out)) * shape[node.inputs[0]][-1]
        elif node.op == "Conv":
            w = shape[node.inputs[1]]
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        elif node.op == "ConvTranspose":
            x, w = shape[node.inputs[0]], shape[node.inputs[1]]
            total += int(np.prod(x)) * int(np.prod(w[1:]))
    return total


def benchmark(name: str, blob: bytes, native_runs: int = 50) -> dict[str, Any]:
    """One row: steps, VM seconds (fast runner, excluding image build), instr/MAC, native ms."""
    model = Model.load(blob)
    x = examples.sample_input(blob, 0)
    model.run(x)
    times, cpu = [], []
    for _ in range(native_runs):
        t0, c0 = time.perf_counter(), time.process_time()
        model.run(x)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0 = time.perf_counter()
    vm_image(blob)
    image_seconds = time.perf_counter() - t0
    vm = run_vm(blob, x)
    assert vm.output is not None and vm.output.tobytes() == model.run(x).tobytes()
    macs = count_macs(read_model(blob))
    return {
        "model": name, "macs": macs, "vm_steps": vm.steps, "vm_seconds": round(vm.seconds, 4),
        "vm_steps_per_second": round(vm.steps / vm.seconds), "instructions_per_mac":
        round(vm.steps / macs, 1), "native_ms": round(1e3 * statistics.median(times), 3),
        "native_cpu_ms": round(1e3 * statistics.mean(cpu), 3),
        "image_build_seconds": round(image_seconds, 3), "model_bytes": len(blob),
        "bit_exact": True,
    }


def main(argv: list[str]) -> None:
    rows = [benchmark("mlp-784-128-10", examples.mlp((784, 128, 10))),
            benchmark("lenet5-28x28", examples.lenet5())]
    if "--json" in argv:
        print(json.dumps(rows, indent=2))
        return
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))


if __name__ == "__main__":
    main(sys.argv[1:])
