"""`optimist bench`: the performance table, measured on this machine (issue 9).

For each model: size (parameters, MACs), native and VM inference, Merkle roots, one-step proofs and
their gas, a full dispute on eth-tester and on anvil, peak RSS, and ratios to opML's figures.
Contract sizes and gas are measured once. Figures that cannot be measured are reported with the
reason (`n/a: ...`, `error: ...`), never as numbers. See BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from challenger.benchlib import report as R
from challenger.benchlib.run import REPO, BenchUsageError, bundled_models, mdnn_for, resolve_models

RESULTS_JSON = REPO / "docs" / "bench-results.json"
SCALING_JSON = REPO / "docs" / "bench-scaling.json"
PLOT = REPO / "docs" / "bench-scaling.png"
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
    from challenger.benchlib.run import in_child, measure_models

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


def update_docs(report: dict[str, Any]) -> list[Path]:
    """Store the report's JSON, rewrite BENCHMARKS.md's generated section and the scaling plot."""
    target = SCALING_JSON if report["mode"] == "scaling" else RESULTS_JSON
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
    plot = R.scaling_plot(reports, PLOT)
    if plot:
        written.append(plot)
    return written


@click.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the report as Markdown tables.")
@click.option("--quick", is_flag=True,
              help="Smallest bundled model only, one repetition; skips the anvil dispute and the whole-game "
                   "gas table (the figures say so).")
@click.option("--models", "model_names", multiple=True, metavar="NAME|PATH",
              help="Bundled model name or .onnx/.mdnn path (repeatable). Default: every bundled model.")
@click.option("--scaling", is_flag=True,
              help="The scaling run: MLPs of growing width up to millions of parameters "
                   f"(each model's measurements within {SCALING_BUDGET_S:.0f} s).")
@click.option("--reps", type=click.IntRange(1, 100), default=None,
              help="Repetitions of the short timings (median; default 5, 1 with --quick).")
@click.option("--stage-budget", type=click.FloatRange(1, None), default=None,
              help="Seconds allowed per measuring stage (default 60 with --quick, 600 with --scaling, "
                   "else 1800); a stage past it is reported as an error.")
@click.option("--from-json", "from_json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Do not measure: show (or --update-docs from) a report saved with --save/--json.")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON report here.")
@click.option("--update-docs", is_flag=True,
              help="Write docs/bench-results.json (or bench-scaling.json), BENCHMARKS.md's table and "
                   "docs/bench-scaling.png.")
def bench(as_json: bool, as_markdown: bool, quick: bool, model_names: tuple[str, ...], scaling: bool,
          reps: int | None, stage_budget: float | None, from_json: Path | None, save: Path | None,
          update_docs: bool) -> None:
    """Measure models, VM, proofs, gas and disputes on this machine."""
    err = Console(stderr=True)
    if from_json is not None:
        report = json.loads(from_json.read_text())
        show(report, as_json, as_markdown, save, update_docs, err)
        return
    try:
        if scaling:
            models, mode = scaling_models(), "scaling"
        else:
            models = resolve_models(model_names) if model_names else bundled_models()
            if not models:
                raise BenchUsageError("no models: examples/models/ has no .onnx files; pass --models")
            models = models_by_macs(models)
            if quick and not model_names:
                models = dict(list(models.items())[:1])
            mode = "quick" if quick else "full"
    except BenchUsageError as exc:
        raise click.UsageError(str(exc)) from None
    if stage_budget is None:
        stage_budget = 60.0 if quick else SCALING_BUDGET_S if scaling else 1800.0
    report = run_bench(models, quick=quick, reps=reps or (1 if quick else 5), mode=mode, stage_budget=stage_budget,
                       system=not scaling, log=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    show(report, as_json, as_markdown, save, update_docs, err)


def show(report: dict[str, Any], as_json: bool, as_markdown: bool, save: Path | None, update_docs: bool,
         err: Console) -> None:
    """Save, write the docs, and print the report in the asked format."""
    if save:
        save.write_text(json.dumps(report, indent=1) + "\n")
    if update_docs:
        for path in update_docs_(report):
            err.print(f"wrote {path.relative_to(REPO)}")
    if as_json:
        sys.stdout.write(json.dumps(report, indent=1) + "\n")
    elif as_markdown:
        sys.stdout.write(R.markdown(report))
    else:
        out = Console()
        for result in report["models"]:
            out.print(R.model_table(result))
        if report["mode"] != "scaling":
            out.print(R.system_table(report["system"]))
        m = report["machine"]
        out.print(f"[dim]{report['date']}: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
                  f"commit {m['commit']}[/dim]")


update_docs_ = update_docs
