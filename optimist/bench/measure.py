"""The measuring stages of `optimist bench`: each runs the real code path and returns its figures.

Every stage takes a `Subject` (one model, its input and what earlier stages learnt) and returns a
dict of figures keyed as in optimist.bench.fields. A stage raises if it cannot measure; the
caller reports that figure as an error, never as a number.
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optimist.bench import fields as F

CHECKPOINT_INTERVAL = 1 << 20     # the fast runner's default grid


class BenchError(RuntimeError):
    """A measurement could not be taken (the run failed, or two implementations disagree)."""


class Unmeasurable(RuntimeError):
    """This figure cannot be measured on this machine (the reason is reported as `n/a: ...`)."""


SNAPSHOT_LIMIT_GIB = 8.0      # memory the daemons' run snapshots may take in one dispute
BARE_LIMIT_S = 600.0          # time the side-by-side bare unicorn / fast runner runs may take


@dataclass
class Subject:
    """One model under measurement."""

    name: str
    path: Path                      # the .mdnn file
    x: np.ndarray                   # its input
    reps: int = 5                   # repetitions of the short timings (median reported)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    scratch: dict[str, Any] = field(default_factory=dict)

    @property
    def blob(self) -> bytes:
        return self.path.read_bytes()

    @property
    def input_bytes(self) -> bytes:
        return np.ascontiguousarray(self.x, dtype="<i4" if self.x.dtype.kind in "iu" else "<f4").tobytes()


def _median_s(fn: Any, reps: int) -> float:
    samples = []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


# ------------------------------------------------------------------------------ model stages

def stage_model(s: Subject) -> dict[str, Any]:
    """Parameters, MACs and size of the .mdnn model (converter.inspect)."""
    from converter.inspect import inspect_model

    info = inspect_model(s.blob)
    return {"parameters": int(info.parameters), "macs": int(info.macs), "model_bytes": int(info.size)}


def stage_native(s: Subject) -> dict[str, Any]:
    """Native inference (minidnn's cffi build): median wall time after a warm-up run."""
    import minidnn

    model = minidnn.Model.load(s.blob)
    out = model.run(s.x)                                   # warm-up (and the reference output)
    s.scratch["native_output"] = np.asarray(out, dtype="<f4").tobytes()
    return {"native_ms": 1e3 * _median_s(lambda: model.run(s.x), s.reps)}


def vm_state(s: Subject) -> Any:
    """The VM's initial state for the subject's model and input (minidnn.image)."""
    from minidnn.image import vm_image

    image = vm_image(s.path)
    s.scratch["image"] = image
    return image.initial_state(s.x)


def stage_vm(s: Subject) -> dict[str, Any]:
    """The image root (cold), then one inference in the VM: the whole run on the unicorn fast runner
    (minidnn.image.run_state)."""
    from minidnn.image import layout_state, run_state

    laid = layout_state(s.blob)
    t0, cpu0 = time.perf_counter(), time.process_time()
    root = laid.memory.root()
    image_root_s = time.perf_counter() - t0
    s.notes["image_root"] = (f"{len(list(laid.memory.pages())):,} pages, {time.process_time() - cpu0:.2f} s of CPU "
                             "(native Merkle builder when available)")
    del laid
    state = vm_state(s)
    if s.scratch["image"].image_root != root:
        raise BenchError("the image root differs from the one of a fresh layout")
    s.scratch["initial"] = state.copy()
    final, vm_s = run_state(state, engine="fast")
    if not final.exited or final.exit_code != 0:
        raise BenchError(f"the VM run ended with exited={final.exited} exit code {final.exit_code:#x}")
    native = s.scratch.get("native_output")
    if native is None:
        raise BenchError("no native output to compare the VM's with (the native stage failed)")
    return {
        "vm_steps": int(final.step),
        "vm_s": vm_s,
        "steps_per_s": final.step / vm_s,
        "insns_per_mac": final.step / s.figures["macs"],
        "vm_over_native": vm_s / (s.figures["native_ms"] / 1e3),
        "vm_matches_native": final.memory.read(s.scratch["image"].output_base, len(native)) == native,
        "image_root_s": image_root_s,
    }


def stage_vm_bare(s: Subject) -> dict[str, Any]:
    """Bare unicorn (no hooks, everything mapped) and the fast runner on the same initial state,
    alternated 3 times (mipsvm.benchmark): the ceiling and how much of it the runner keeps."""
    from mipsvm.benchmark import benchmark_state

    estimate = 6 * s.figures["vm_s"]
    if estimate > BARE_LIMIT_S:
        raise Unmeasurable(f"3 bare-unicorn and 3 fast-runner runs of ~{s.figures['vm_s']:.0f} s would "
                           f"take ~{estimate / 60:.0f} min (> {BARE_LIMIT_S / 60:.0f} min allowed)")
    result = benchmark_state(s.scratch["initial"], s.name, repeats=3).as_dict()
    if result["steps"] != s.figures["vm_steps"]:
        raise BenchError(f"the benchmarked run took {result['steps']} steps, the VM stage {s.figures['vm_steps']}")
    s.notes["vm_bare"] = f"fast / bare median {result['ratio_median']:.0%}"
    return {"bare_unicorn_steps_per_s": result["bare_steps_per_s_best"],
            "fast_runner_steps_per_s": result["fast_steps_per_s_best"], "fast_over_bare": result["ratio_best"]}


def stage_cli(s: Subject) -> dict[str, Any]:
    """Start-up of the `optimist` command in a new process (what every CLI call pays)."""
    import subprocess
    import sys

    def best(args: list[str]) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "optimist.cli", *args], check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        return min(times)

    return {"cli_help_s": best(["--help"]), "cli_version_s": best(["--version"])}


PREFIX_INTERVALS = 64        # checkpoint intervals run first to estimate a run's snapshot memory


def _snapshot_estimate_bytes(s: Subject) -> int:
    """Snapshot memory of one whole checkpointed run, extrapolated from its first PREFIX_INTERVALS
    intervals (page versions kept per checkpoint there, doubled as a margin) plus the initial memory."""
    from mipsvm.runs import Run

    cached = s.scratch.get("snapshot_estimate")
    if cached is not None:
        return cached
    steps = s.figures["vm_steps"]
    prefix = Run(s.scratch["initial"].copy(), CHECKPOINT_INTERVAL, min(steps, PREFIX_INTERVALS * CHECKPOINT_INTERVAL),
                 must_halt=False)
    pages = len(list(s.scratch["initial"].memory.pages()))
    per_checkpoint = prefix.checkpoints.stored_pages / max(1, len(prefix.checkpoints) - 1)
    estimate = int((pages + 2 * per_checkpoint * (steps // CHECKPOINT_INTERVAL + 1)) * 4096)
    s.scratch["snapshot_estimate"] = estimate
    return estimate


def stage_vm_checkpointed(s: Subject) -> dict[str, Any]:
    """The run as a dispute player does it: challenger.models.Run, a state snapshot every 2^20 steps
    (copy-on-write: a checkpoint keeps only the pages changed since the previous one)."""
    from mipsvm.runs import Run

    need = _snapshot_estimate_bytes(s) / 2**30
    if need > SNAPSHOT_LIMIT_GIB:
        raise Unmeasurable(f"challenger.models.Run's snapshots would take ~{need:.0f} GiB (> "
                           f"{SNAPSHOT_LIMIT_GIB:.0f} GiB allowed; extrapolated from the first "
                           f"{PREFIX_INTERVALS} intervals)")
    t0 = time.perf_counter()
    run = Run(s.scratch["initial"].copy(), CHECKPOINT_INTERVAL)
    seconds = time.perf_counter() - t0
    if run.final.step != s.figures["vm_steps"] or run.final.exit_code != 0:
        raise BenchError(f"the checkpointed run ended at step {run.final.step} with exit code "
                         f"{run.final.exit_code:#x}; the plain run took {s.figures['vm_steps']} steps")
    return {"vm_checkpointed_s": seconds, "checkpoints": len(run.checkpoints),
            "snapshot_mib": run.checkpoints.stored_pages * 4096 / 2**20}


def stage_checkpoint(s: Subject) -> dict[str, Any]:
    """At the checkpoint nearest mid-run: root of the dirty pages, cold root, witness, MIPS.sol gas."""
    from contracts.evm import LocalEVM, compile_mips
    from mipsvm.memory import Memory
    from mipsvm.runs import run_to as advance
    from mipsvm.stepper import step_with_witness

    steps = s.figures["vm_steps"]
    mid = max(1, steps // 2 // CHECKPOINT_INTERVAL * CHECKPOINT_INTERVAL)
    state = advance(s.scratch["initial"].copy(), max(0, mid - CHECKPOINT_INTERVAL))
    state.hash()                                          # the previous checkpoint's root
    state = advance(state, mid)                           # the runner updates this Memory in place
    t0 = time.perf_counter()
    state.hash()                                          # root over the pages dirtied since
    root_checkpoint = time.perf_counter() - t0

    cold = Memory()
    for idx in state.memory.pages():
        cold.set_page(idx, state.memory.page(idx))
    t0 = time.perf_counter()
    root = cold.root()
    root_full = time.perf_counter() - t0
    if root != state.memory.root():
        raise BenchError("a cold Merkle root differs from the incremental one")

    samples, witness = [], None
    for _ in range(max(1, s.reps)):
        pre = state.copy()
        t0 = time.perf_counter()
        witness = step_with_witness(pre)
        samples.append(time.perf_counter() - t0)
    mips = LocalEVM().deploy("MIPS", compile_mips())
    if mips.call("step", witness.state, witness.proof) != witness.post_hash:
        raise BenchError(f"MIPS.sol disagrees with the reference stepper at step {mid}")
    return {"root_checkpoint_ms": 1e3 * root_checkpoint, "root_full_ms": 1e3 * root_full,
            "memory_pages": len(list(state.memory.pages())),
            "proof_ms": 1e3 * statistics.median(samples), "step_gas": int(mips.gas_used)}


def snapshot_gib(s: Subject) -> float | None:
    """Memory the dispute's runs would keep: three runs (operator honest + lying, challenger), each
    the measured snapshot set of the checkpointed run (or its estimate); None without the VM stage."""
    if isinstance(s.figures.get("snapshot_mib"), float):
        return 3 * s.figures["snapshot_mib"] / 1024
    if not isinstance(s.figures.get("vm_steps"), int) or "initial" not in s.scratch:
        return None
    return 3 * _snapshot_estimate_bytes(s) / 2**30


def _dispute(s: Subject, chain: str) -> dict[str, Any]:
    from challenger.models import MinidnnModel
    from optimist.bench.dispute import measure_disputes

    need = snapshot_gib(s)
    if need is not None and need > SNAPSHOT_LIMIT_GIB:
        raise Unmeasurable(f"the daemons' run snapshots (unchanged pages shared) would "
                           f"take ~{need:.0f} GiB (> {SNAPSHOT_LIMIT_GIB:.0f} GiB allowed)")

    runs, seconds = measure_disputes(MinidnnModel(s.path), s.input_bytes, chain, min(F.DISPUTE_RUNS, s.reps))
    d = max(runs, key=lambda r: r.rpc_requests)        # the chattiest run (all runs on eth-tester: 0)
    key = "dispute_" + chain.replace("-", "_")
    s.notes[key] = (f"{d.transactions} transactions, {d.steps} steps disputed; {len(runs)} runs: "
                    + ", ".join(f"{r.total_s:.2f}" for r in runs) + " s")
    figures = {f"{key}_s": seconds["median_s"], f"{key}_min_s": seconds["min_s"],
               f"{key}_game_s": seconds["game_median_s"], f"{key}_rounds": d.rounds,
               f"{key}_operator_gas": d.operator_gas, f"{key}_challenger_gas": d.challenger_gas,
               f"{key}_prove_gas": d.prove_gas}
    if chain == "anvil":
        figures[f"{key}_rpc_requests"] = d.rpc_requests
        figures[f"{key}_rpc_calls"] = d.rpc_calls
        figures[f"{key}_rpc_by_method"] = d.rpc_by_method
        s.notes[key] += "; HTTP requests per run: " + ", ".join(str(r.rpc_requests) for r in runs)
    return figures


def stage_dispute_eth_tester(s: Subject) -> dict[str, Any]:
    """A full dispute (lying operator, honest challenger, real daemons) on in-process eth-tester."""
    return _dispute(s, "eth-tester")


def stage_dispute_anvil(s: Subject) -> dict[str, Any]:
    """The same dispute on a local anvil node over JSON-RPC."""
    return _dispute(s, "anvil")


def stage_dispute_two_phase(s: Subject) -> dict[str, Any]:
    """A full two-phase dispute on anvil (lie in phase 1; challenger.graph_games, optimist.bench.two_phase)."""
    from challenger.graph_games import GraphModel
    from challenger.models import ModelError
    from optimist.bench.two_phase import measure_time_to_post, measure_two_phase_dispute

    try:
        model = GraphModel(s.path, s.name, cache=False)    # commit_s: the descriptors measured afresh
    except ModelError as exc:
        raise Unmeasurable(f"not a two-phase graph model: {exc}") from None
    post_s, native_s = measure_time_to_post(model, s.input_bytes, s.reps)
    d = measure_two_phase_dispute(model, s.input_bytes, "anvil")
    s.notes["dispute_two_phase"] = (f"{d.nodes} nodes, node {d.node} ({d.node_op}) disputed, "
                                    f"{d.transactions} transactions; peak RSS of the process (both daemons "
                                    f"and every earlier stage) {d.peak_rss_mb:.0f} MiB")
    return {"dispute_two_phase_s": d.total_s, "dispute_two_phase_game_s": d.game_s,
            "dispute_two_phase_phase1_rounds": d.phase1_rounds, "dispute_two_phase_phase2_rounds": d.phase2_rounds,
            "dispute_two_phase_rounds": d.phase1_rounds + d.phase2_rounds,
            "dispute_two_phase_node_steps": d.node_steps, "dispute_two_phase_model_steps": d.model_steps,
            "dispute_two_phase_node_share": d.node_steps / d.model_steps,
            "dispute_two_phase_post_s": post_s, "dispute_two_phase_post_over_native": post_s / native_s,
            "dispute_two_phase_commit_s": d.commit_s, "dispute_two_phase_operator_gas": d.operator_gas,
            "dispute_two_phase_challenger_gas": d.challenger_gas, "dispute_two_phase_enter_gas": d.enter_gas,
            "dispute_two_phase_prove_gas": d.prove_gas}


def stage_opml(s: Subject) -> dict[str, Any]:
    """Our MNIST MLP figures over opML's (BENCHMARKS.md: what opML claims and what it measured here)."""
    f = s.figures
    return {"vm_s_over_opml_claim": f["vm_s"] / F.OPML_MNIST_VM_CLAIM_S,
            "vm_s_over_opml_measured": f["vm_s"] / F.OPML_MNIST_VM_MEASURED_S,
            "steps_over_opml": f["vm_steps"] / F.OPML_MNIST_STEPS}


def stage_opml_dispute(s: Subject) -> dict[str, Any]:
    f = s.figures
    return {"dispute_over_opml_claim": f["dispute_anvil_s"] / F.OPML_CHALLENGE_CLAIM_S,
            "dispute_over_opml_measured": f["dispute_anvil_s"] / F.OPML_CHALLENGE_MEASURED_S}


def peak_rss_mb() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_process(s: Subject) -> dict[str, Any]:
    return {"peak_rss_mb": peak_rss_mb()}


# ------------------------------------------------------------------------------ system stages

def stage_contracts(s: Subject) -> dict[str, Any]:
    """Runtime size of every deployable contract (MIPS first) and MIPS.sol's expensive steps."""
    from contracts import gas
    from contracts.evm import LocalEVM, compile_mips
    from contracts.system import compile_system

    mips = LocalEVM().deploy("MIPS", compile_mips())
    sizes = {"MIPS": gas.runtime_size(mips)}
    for name, art in sorted(compile_system().items()):
        size = (len(art["runtime"]) - 2) // 2
        if size and name not in sizes:
            sizes[name] = size
    cases = gas.step_gas(mips)
    return {"runtime_bytes": sizes, "step_gas_cases": cases, "step_gas_worst": max(cases.values())}


def stage_system_gas(s: Subject) -> dict[str, Any]:
    """Gas of every transaction kind in a whole game (contracts.system_gas) and of `prove` by instruction
    kind (contracts.prove_gas)."""
    from contracts import prove_gas
    from contracts.system_gas import measure_system_gas

    out = measure_system_gas()
    return {"tx_gas": {k: int(v) for k, v in out.items()
                       if isinstance(v, int) and k != "rounds" and not k.endswith("_bytes")},
            "prove_gas": prove_gas.as_dict(prove_gas.measure_prove_gas())}


def stage_batch_gas(s: Subject) -> dict[str, Any]:
    """Gas per inference with single results and with batches of 1, 10 and 100 (optimist.bench.batches)."""
    from optimist.bench.batches import measure_batch_gas

    return {"batch_gas": measure_batch_gas(s.path)}


def stage_throughput(s: Subject) -> dict[str, Any]:
    """Operator inferences per second, 1 worker and a pool on every core (optimist.bench.throughput)."""
    from optimist.bench.throughput import measure_throughput

    return measure_throughput(s.path, requests=16 if s.reps == 1 else 24)
def stage_entry_gas(s: Subject) -> dict[str, Any]:
    """Gas per inference with request batches of 1, 10 and 100, calldata and blobs, on anvil
    (optimist.bench.batches --entries)."""
    from optimist.bench.batches import measure_entry_gas

    return {"entry_gas": measure_entry_gas(s.path)}


STAGE_FUNCTIONS = {
    "model": stage_model, "native": stage_native, "vm": stage_vm, "vm_bare": stage_vm_bare,
    "vm_checkpointed": stage_vm_checkpointed, "cli": stage_cli,
    "checkpoint": stage_checkpoint,
    "dispute_eth_tester": stage_dispute_eth_tester, "dispute_anvil": stage_dispute_anvil,
    "dispute_two_phase": stage_dispute_two_phase,
    "opml": stage_opml, "opml_dispute": stage_opml_dispute, "process": stage_process,
    "contracts": stage_contracts, "system_gas": stage_system_gas, "batch_gas": stage_batch_gas,
    "throughput": stage_throughput,
    "entry_gas": stage_entry_gas,
}
