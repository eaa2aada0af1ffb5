"""`optimist bench`: the performance table, measured on this machine (see BENCHMARKS.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from optimist.bench import report as R
from optimist.bench.fields import MNIST_MODEL
from optimist.bench.run import REPO, BenchUsageError, bundled_models, resolve_models
from optimist.bench.suite import (
    SCALING_BUDGET_S,
    models_by_macs,
    run_bench,
    scaling_models,
)
from optimist.bench.suite import update_docs as write_doc_files


@click.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the report as Markdown tables.")
@click.option("--quick", is_flag=True,
              help="The MNIST MLP only (mlp_digits), one repetition; skips the anvil dispute and the whole-game "
                   "gas table (the figures say so).")
@click.option("--models", "model_names", multiple=True, metavar="NAME|PATH",
              help="Bundled model name, generated model (gpt2_small: built on demand, ~650 MB) or "
                   ".onnx/.mdnn path (repeatable). Default: every bundled model.")
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
@click.option("--merge", is_flag=True,
              help="With --update-docs: keep the stored report's other models and contract figures, "
                   "replace or add only the models measured now (e.g. --models gpt2_small).")
def bench(as_json: bool, as_markdown: bool, quick: bool, model_names: tuple[str, ...], scaling: bool,
          reps: int | None, stage_budget: float | None, from_json: Path | None, save: Path | None,
          update_docs: bool, merge: bool) -> None:
    """Measure models, VM, proofs, gas and disputes on this machine."""
    err = Console(stderr=True)
    if merge and not update_docs:
        raise click.UsageError("--merge only applies with --update-docs")
    if from_json is not None:
        report = load_report(from_json)
        show(report, as_json, as_markdown, save, update_docs, err, merge)
        return
    try:
        if scaling:
            models, mode = scaling_models(), "scaling"
        else:
            models = resolve_models(model_names) if model_names else bundled_models()
            if not models:
                raise BenchUsageError("no models: examples/models/ has no .onnx files; pass --models")
            models = models_by_macs(models)
            if quick and not model_names:   # the MNIST MLP (opML's yardstick), else the smallest
                first = MNIST_MODEL if MNIST_MODEL in models else next(iter(models))
                models = {first: models[first]}
            mode = "quick" if quick else "full"
    except BenchUsageError as exc:
        raise click.UsageError(str(exc)) from None
    if stage_budget is None:
        stage_budget = 60.0 if quick else SCALING_BUDGET_S if scaling else 1800.0
    report = run_bench(models, quick=quick, reps=reps or (1 if quick else 5), mode=mode, stage_budget=stage_budget,
                       system=not scaling and not merge, log=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    show(report, as_json, as_markdown, save, update_docs, err, merge)


def load_report(path: Path) -> dict[str, Any]:
    """A report saved with --save/--json; click.BadParameter (not a traceback) for anything else."""
    def bad(why: str) -> click.BadParameter:
        return click.BadParameter(f"{path}: {why}; give a file written by `optimist bench --save` or --json",
                                  param_hint="--from-json")

    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(report, dict) or not {"mode", "date", "machine", "models"} <= report.keys():
        raise bad("not a bench report (it needs mode, date, machine and models)")
    models = report["models"]
    if not isinstance(models, list) or not all(isinstance(m, dict) and "name" in m and "figures" in m
                                               for m in models):
        raise bad("its models are not a list of {name, figures} records")
    if report["mode"] != "scaling" and not isinstance(report.get("system"), dict):
        raise bad("it has no system figures")
    return report


def show(report: dict[str, Any], as_json: bool, as_markdown: bool, save: Path | None, update_docs: bool,
         err: Console, merge: bool = False) -> None:
    """Save, write the docs, and print the report in the asked format."""
    if save:
        save.write_text(json.dumps(report, indent=1) + "\n")
    if update_docs:
        for path in write_doc_files(report, merge):
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


