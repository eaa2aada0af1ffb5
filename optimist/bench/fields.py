"""Every figure `optimist bench` reports: its key, label, unit, sane range and the modules it needs.

A figure is produced by one *stage* (a function in optimist.bench.measure). A figure whose
modules are not importable is reported as `n/a: <module> not built`; `--quick` skips only the
figures whose stage has a `quick_skip` reason. The test (tests/test_bench.py) holds the bench to
this table: every figure whose modules exist must be a real measurement inside its range.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any

OPML_MNIST_VM_CLAIM_S = 3.6        # opML's announced MNIST-in-VM figure
OPML_MNIST_VM_MEASURED_S = 1.9     # measured here: 1.8-2.0 s on a 2-core machine
OPML_MNIST_STEPS = 12.4e6          # measured here: 12.4M MIPS steps
OPML_CHALLENGE_CLAIM_S = 120.0     # opML's "full challenge within 2 min" claim
OPML_CHALLENGE_MEASURED_S = 197.5  # measured here: 190-205 s (24 rounds)
MNIST_MODEL = "mlp_digits"         # the 784-128-10 MLP: the model opML benchmarks


@dataclass(frozen=True)
class Stage:
    """A group of figures measured together; `requires` are module names that must be importable."""

    name: str
    requires: tuple[str, ...]
    after: tuple[str, ...] = ()          # stages whose figures this one needs
    quick_skip: str | None = None        # why --quick skips it (None: always measured)
    only: str | None = None              # only for this model (opML ratios: the MNIST MLP)


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    unit: str
    stage: str
    kind: str = "float"                  # "int", "float", "bool", "dict" (of ints)
    lo: float = 0.0                      # exclusive lower bound of a sane value (dict: of each value)
    hi: float = math.inf                 # inclusive upper bound


DISPUTE_MODULES = ("challenger.operator_daemon", "challenger.challenger_daemon", "contracts.system", "mipsvm.fast",
                   "minidnn.image")
STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("model", ("converter.api", "converter.inspect")),
    Stage("native", ("minidnn.native",), after=("model",)),
    Stage("vm", ("mipsvm.fast", "minidnn.image"), after=("model", "native")),
    Stage("vm_bare", ("mipsvm.benchmark",), after=("vm",)),
    Stage("vm_checkpointed", ("mipsvm.fast", "challenger.models"), after=("vm",)),
    Stage("checkpoint", ("mipsvm.fast", "mipsvm.stepper", "contracts.evm", "challenger.models"), after=("vm",)),
    Stage("dispute_eth_tester", DISPUTE_MODULES, after=("model",)),
    Stage("dispute_anvil", DISPUTE_MODULES, after=("model",),
          quick_skip="--quick: the anvil dispute plays the same game as eth-tester's over JSON-RPC"),
    Stage("dispute_two_phase", (*DISPUTE_MODULES, "minidnn.nodes", "minidnn.phase1", "challenger.graph_games"),
          after=("model",), quick_skip="--quick: the two-phase dispute plays a second whole game, on anvil"),
    Stage("opml", (), after=("vm",), only=MNIST_MODEL),
    Stage("opml_dispute", (), after=("dispute_anvil",), only=MNIST_MODEL,
          quick_skip="--quick: needs the anvil dispute"),
    Stage("process", ()),
    Stage("cli", ()),
    Stage("contracts", ("contracts.evm", "contracts.gas", "contracts.system")),
    Stage("system_gas", ("contracts.system_gas",),
          quick_skip="--quick: plays a whole game on eth-tester for per-transaction gas"),
    Stage("batch_gas", ("contracts.batches", "challenger.models", "minidnn.image", "mipsvm.fast"), after=("model",),
          only=MNIST_MODEL),
    Stage("throughput", ("challenger.pool", "minidnn.image", "minidnn.native", "minidnn.phase1", "mipsvm.fast"),
          after=("model",), only=MNIST_MODEL),
    Stage("entry_gas", ("contracts.batches", "contracts.blobs", "challenger.models", "minidnn.image", "mipsvm.fast"),
          after=("model",), only=MNIST_MODEL,
          quick_skip="--quick: request batches of 1, 10 and 100 on anvil, calldata and blobs"),
)}

_GAS = 30_000_000
DISPUTE_RUNS = 3          # disputes measured per chain (fewer with --reps below it, e.g. --quick)
MODEL_FIELDS: tuple[Field, ...] = (
    Field("parameters", "parameters", "", "model", "int", 0, 1e10),
    Field("macs", "multiply-accumulates", "MAC", "model", "int", 0, 1e13),
    Field("model_bytes", ".mdnn size", "B", "model", "int", 0, 2**30),
    Field("native_ms", "native inference", "ms", "native", "float", 0, 6e5),
    Field("vm_steps", "VM steps", "steps", "vm", "int", 0, 2**48),
    Field("vm_s", "VM wall time (unicorn fast runner)", "s", "vm", "float", 0, 86400),
    Field("steps_per_s", "VM speed", "steps/s", "vm", "float", 0, 1e11),
    Field("insns_per_mac", "MIPS instructions per MAC", "steps/MAC", "vm", "float", 0, 1e6),
    Field("vm_over_native", "VM time / native time", "x", "vm", "float", 0, 1e9),
    Field("vm_matches_native", "VM output == native output (bytes)", "", "vm", "bool"),
    Field("image_root_s", "VM image Merkle root (cold: runtime + model laid out)", "s", "vm", "float", 0, 3600),
    Field("bare_unicorn_steps_per_s", "bare unicorn on the same image (no hooks; best of 3)", "steps/s", "vm_bare",
          "float", 0, 1e11),
    Field("fast_runner_steps_per_s", "fast runner side by side (best of 3)", "steps/s", "vm_bare", "float", 0, 1e11),
    Field("fast_over_bare", "fast runner / bare unicorn (best; median in the notes)", "x", "vm_bare", "float", 0, 10),
    Field("vm_checkpointed_s", "VM wall time keeping a snapshot every 2^20 steps (as the daemons do)", "s", "vm_checkpointed",
          "float", 0, 86400),
    Field("checkpoints", "snapshots kept", "", "vm_checkpointed", "int", 0, 2**40),
    Field("snapshot_mib", "memory the snapshots keep (page versions; unchanged pages shared)", "MiB",
          "vm_checkpointed", "float", 0, 2**20),
    Field("root_checkpoint_ms", "Merkle root at a checkpoint (dirty pages)", "ms", "checkpoint", "float", 0, 6e5),
    Field("root_full_ms", "Merkle root of the whole memory (cold)", "ms", "checkpoint", "float", 0, 6e5),
    Field("memory_pages", "pages in VM memory at the checkpoint", "pages", "checkpoint", "int", 0, 2**20),
    Field("proof_ms", "one-step proof generation", "ms", "checkpoint", "float", 0, 6e4),
    Field("step_gas", "one-step gas (this model's step at mid-run, MIPS.sol)", "gas", "checkpoint", "int",
          21000, _GAS),
    *(f for chain in ("eth_tester", "anvil") for f in (
        Field(f"dispute_{chain}_s", f"full dispute on {chain.replace('_', '-')} (request -> resolved; median of "
              f"{DISPUTE_RUNS} runs)", "s", f"dispute_{chain}", "float", 0, 86400),
        Field(f"dispute_{chain}_min_s", f"  fastest of the {DISPUTE_RUNS} runs ({chain.replace('_', '-')})", "s",
              f"dispute_{chain}", "float", 0, 86400),
        Field(f"dispute_{chain}_game_s", f"  game only on {chain.replace('_', '-')} (opened -> resolved; median)", "s",
              f"dispute_{chain}", "float", 0, 86400),
        Field(f"dispute_{chain}_rounds", f"  bisection rounds ({chain.replace('_', '-')})", "", f"dispute_{chain}", "int", 0, 48),
        Field(f"dispute_{chain}_operator_gas", f"  gas paid by the (lying) operator ({chain.replace('_', '-')})", "gas",
              f"dispute_{chain}", "int", 21000, 1e10),
        Field(f"dispute_{chain}_challenger_gas", f"  gas paid by the challenger ({chain.replace('_', '-')})", "gas",
              f"dispute_{chain}", "int", 21000, 1e10),
        Field(f"dispute_{chain}_prove_gas", f"  one-step proof transaction ({chain.replace('_', '-')})", "gas",
              f"dispute_{chain}", "int", 21000, _GAS),
    )),
    Field("dispute_anvil_rpc_requests", "  HTTP JSON-RPC requests sent by both daemons (anvil; a batch is one; "
          "most of any run)", "", "dispute_anvil", "int", 1, 10**7),
    Field("dispute_anvil_rpc_calls", "  JSON-RPC calls in them (each call of a batch counted)", "", "dispute_anvil",
          "int", 1, 10**7),
    Field("dispute_anvil_rpc_by_method", "  JSON-RPC calls by method (anvil)", "", "dispute_anvil", "dict", 0, 10**7),
    Field("dispute_two_phase_s", "full two-phase dispute on anvil (request -> resolved; docs/two-phase.md)", "s",
          "dispute_two_phase", "float", 0, 86400),
    Field("dispute_two_phase_game_s", "  game only (opened -> resolved)", "s", "dispute_two_phase", "float", 0, 86400),
    Field("dispute_two_phase_phase1_rounds", "  phase-1 rounds (over nodes)", "", "dispute_two_phase", "int", -1, 16),
    Field("dispute_two_phase_phase2_rounds", "  phase-2 rounds (over the disputed node's VM steps)", "",
          "dispute_two_phase", "int", -1, 48),
    Field("dispute_two_phase_rounds", "  rounds in all (phase 1 + phase 2)", "", "dispute_two_phase", "int", 0, 64),
    Field("dispute_two_phase_node_steps", "  VM steps of the disputed node", "steps", "dispute_two_phase", "int",
          0, 2**48),
    Field("dispute_two_phase_model_steps", "  VM steps of the whole model, node by node (never run in a dispute)",
          "steps", "dispute_two_phase", "int", 0, 2**48),
    Field("dispute_two_phase_node_share", "  disputed node's VM steps / the whole model's", "x", "dispute_two_phase",
          "float", 0, 1),
    Field("dispute_two_phase_post_s", "  operator's time to post (native phase-1 trace and output proof; min)",
          "s", "dispute_two_phase", "float", 0, 86400),
    Field("dispute_two_phase_post_over_native", "  time to post / native inference (min / min)", "x",
          "dispute_two_phase", "float", 0, 1e6),
    Field("dispute_two_phase_commit_s", "  descriptors measured (every node in the VM, once per model)", "s",
          "dispute_two_phase", "float", 0, 86400),
    Field("dispute_two_phase_operator_gas", "  gas paid by the (lying) operator (two-phase)", "gas",
          "dispute_two_phase", "int", 21000, 1e10),
    Field("dispute_two_phase_challenger_gas", "  gas paid by the challenger (two-phase)", "gas",
          "dispute_two_phase", "int", 21000, 1e10),
    Field("dispute_two_phase_enter_gas", "  enterNode transaction", "gas", "dispute_two_phase", "int", 21000, _GAS),
    Field("dispute_two_phase_prove_gas", "  one-step proof transaction (two-phase)", "gas", "dispute_two_phase",
          "int", 21000, _GAS),
    Field("vm_s_over_opml_claim", "VM time / opML's MNIST claim (3.6 s)", "x", "opml", "float", 0, 1e6),
    Field("vm_s_over_opml_measured", "VM time / opML measured here (1.9 s)", "x", "opml", "float", 0, 1e6),
    Field("steps_over_opml", "VM steps / opML's 12.4M", "x", "opml", "float", 0, 1e6),
    Field("dispute_over_opml_claim", "anvil dispute / opML's claim (120 s)", "x", "opml_dispute", "float", 0, 1e6),
    Field("dispute_over_opml_measured", "anvil dispute / opML measured (197.5 s)", "x", "opml_dispute",
          "float", 0, 1e6),
    Field("peak_rss_mb", "peak RSS of the measuring process", "MiB", "process", "float", 0, 65536),
    Field("batch_gas", "gas per inference, request + result + finalize: single results and batches of 1, 10, "
          "100 (calldata; optimist.bench.batches, eth-tester)", "gas", "batch_gas", "dict", 0, _GAS),
    Field("operator_inferences_per_s", "operator inferences/s: requests computed as the operator posts them (VM run "
          "+ native check), 1 worker vs a pool on every core (median of 3 runs; optimist.bench.throughput)",
          "inferences/s", "throughput", "dict", 0, 1e7),
    Field("operator_inferences_per_s_best", "  fastest of the 3 runs", "inferences/s", "throughput", "dict", 0, 1e7),
    Field("operator_inferences_per_s_per_core", "  per core (median / workers)", "inferences/s", "throughput", "dict",
          0, 1e7),
    Field("operator_pool_speedup", "  every core / 1 worker (medians)", "x", "throughput", "float", 0, 1024),
    Field("operator_cpu_ms_per_inference", "  CPU time per inference (the daemon's process; each worker's own)",
          "ms", "throughput", "dict", 0, 1e7),
    Field("operator_pool_busy", "  workers' compute time / (wall time x workers)", "", "throughput", "float",
          0, 1.05),
    Field("operator_two_phase_inferences_per_s", "  served two-phase: native phase-1 trace, GraphTrace rebuilt "
          "(median)", "inferences/s", "throughput", "dict", 0, 1e7),
    Field("entry_gas", "gas per inference with request batches of 1, 10, 100 (calldata_N, blobs_N; blob gas "
          "beside) and one entry leaf's disputes beside openGame (optimist.bench.batches --entries, anvil)", "gas",
          "entry_gas", "dict", 0, _GAS),
)

SYSTEM_FIELDS: tuple[Field, ...] = (
    Field("runtime_bytes", "runtime bytecode (MIPS first)", "B", "contracts", "dict", 0, 24576),
    Field("step_gas_cases", "one-step gas, expensive cases", "gas", "contracts", "dict", 21000, _GAS),
    Field("step_gas_worst", "one-step gas, worst case", "gas", "contracts", "int", 21000, _GAS),
    Field("tx_gas", "gas per transaction kind (a whole game on eth-tester)", "gas", "system_gas", "dict",
          0, _GAS),
    Field("cli_help_s", "`optimist --help` wall time (new process; min of 5)", "s", "cli", "float", 0, 600),
    Field("cli_version_s", "`optimist --version` wall time (new process; min of 5)", "s", "cli", "float", 0, 600),
    Field("prove_gas", "prove gas by instruction kind: MIPS.step alone, prove won by the defender, prove "
          "rejecting the result (contracts.prove_gas, eth-tester)", "gas", "system_gas", "dict", 21000, _GAS),
)


def missing_modules(stage: Stage) -> list[str]:
    """Required modules of `stage` that cannot be imported (not built yet)."""
    missing = []
    for name in stage.requires:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


def applies(stage: Stage, model: str) -> bool:
    return stage.only is None or stage.only == model


def check_value(field: Field, value: Any) -> str | None:
    """Why `value` is not a sane measurement of `field` (None if it is)."""
    if field.kind == "bool":
        return None if isinstance(value, bool) else f"{field.key}: expected a bool, got {value!r}"
    values = value.values() if field.kind == "dict" and isinstance(value, dict) else [value]
    if field.kind == "dict" and (not isinstance(value, dict) or not value):
        return f"{field.key}: expected a non-empty mapping, got {value!r}"
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"{field.key}: expected a number, got {v!r}"
        if field.kind == "int" and not isinstance(v, int):
            return f"{field.key}: expected an integer, got {v!r}"
        if not math.isfinite(v) or not field.lo < v <= field.hi:
            return f"{field.key}: {v!r} outside ({field.lo}, {field.hi}]"
    return None
