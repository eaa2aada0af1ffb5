"""`optimist bench`: the performance table, measured on this machine.

For each model: size (parameters, MACs), native and VM inference, Merkle roots, one-step proofs and
their gas, a full dispute on eth-tester and on anvil, peak RSS, and ratios to opML's figures.
Contract sizes and gas are measured once. Figures that cannot be measured are reported with the
reason (`n/a: ...`, `error: ...`), never as numbers. See BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from typing import Any

from optimist.bench import report as R
from optimist.bench.run import REPO, BenchUsageError, mdnn_for

RESULTS_JSON = REPO / "docs" / "bench-results.json"
SCALING_JSON = REPO / "docs" / "bench-scaling.json"
PLOT = REPO / "docs" / "bench-scaling.png"
DISPUTE_PLOT = REPO / "docs" / "bench-disputes.png"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
SCALING_SCRIPT = REPO / "examples" / "scaling" / "build_mlps.py"
SCALING_BUDGET_S = 600.0


def models_by_macs(models: dict[str, Path]) -> dict[str, Path]:
    """`models` ordered by their multiply-accumulates (smallest first)."""
    from converter.inspect import inspect_model

    macs = {name: inspect_model(mdnn_for(path).read_bytes()).macs for name, path in models.items()}
    return dict(sorted(models.items(), key=lambda kv: macs[kv[0]]))


def scaling_models(widths: tuple[int, ...] | None = None) -> dict[str, Path]:
    """The scaling run's MLPs (examples/scaling/build_mlps.py), built into build/bench/scaling."""
    spec = importlib.util.spec_from_file_location("optimist_scaling_mlps", SCALING_SCRIPT)
    if spec is None or spec.loader is None:
        raise BenchUsageError(f"{SCALING_SCRIPT} is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_all(REPO / "build" / "bench" / "scaling", widths)


def run_bench(models: dict[str, Path], *, quick: bool, reps: int, mode: str,
              stage_budget: float | None = None, system: bool = True, log: Any = None) -> dict[str, Any]:
    """Measure `models` (each in its own process) and the contract figures; the whole report."""
    from optimist.bench.run import in_child, measure_models

    def progress(name: str) -> None:
        if log:
            log(f"measuring {name} ...")

    results = measure_models(models, quick, reps, stage_budget, progress=progress)
    if system:
        progress("contracts")
        try:
            sys_figures = in_child("system", quick, stage_budget)
        except (RuntimeError, TimeoutError) as exc:
            sys_figures = {"figures": {f.key: f"error: {exc}" for f in R.F.SYSTEM_FIELDS}, "notes": {}}
    else:
        sys_figures = {"figures": {f.key: "skipped: not measured in this mode" for f in R.F.SYSTEM_FIELDS},
                       "notes": {}}
    return {"mode": mode, "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": R.machine_info(), "models": results, "system": sys_figures}


def merge_reports(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`old` with the models of `new` replacing (or added after) the same-named ones; everything else
    (contract figures, date, machine) stays `old`'s. Each merged model records when it was measured."""
    m = new["machine"]
    when = (f"{new['date']}, commit {m['commit']}, load average at the end "
            f"{', '.join(map(str, m.get('load_average') or []))}")
    fresh = {rec["name"]: {**rec, "measured": when} for rec in new["models"]}
    models = [fresh.pop(rec["name"], rec) for rec in old["models"]] + list(fresh.values())
    return {**old, "models": models}


def update_docs(report: dict[str, Any], merge: bool = False) -> list[Path]:
    """Store the report's JSON, rewrite BENCHMARKS.md's generated section, the scaling plot and the
    dispute plot (both game kinds against model size).
    With `merge`, the stored report keeps its other models (and contract figures) and takes the
    measured models in."""
    target = SCALING_JSON if report["mode"] == "scaling" else RESULTS_JSON
    if merge and target.exists():
        report = merge_reports(json.loads(target.read_text()), report)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=1) + "\n")
    written = [target]
    reports = [json.loads(p.read_text()) for p in (RESULTS_JSON, SCALING_JSON) if p.exists()]
    if BENCHMARKS_MD.exists():
        text = BENCHMARKS_MD.read_text()
        if report["mode"] == "scaling":
            text = R.replace_section(text, R.SCALING_BEGIN, R.SCALING_END, R.markdown(report))
        else:
            text = R.replace_section(text, R.BEGIN, R.END, R.markdown(report))
        BENCHMARKS_MD.write_text(text)
        written.append(BENCHMARKS_MD)
    for plot in (R.scaling_plot(reports, PLOT), R.dispute_plot(reports, DISPUTE_PLOT)):
        if plot:
            written.append(plot)
    return written
