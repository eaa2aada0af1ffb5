"""`make mutation`: mutation testing of the fraud-proof core; writes docs/mutation.md.

Python: mutmut over the modules in pyproject's [tool.mutmut] only_mutate (one list to extend), judged by
its pytest_add_cli_args_test_selection. Solidity: contracts.mutants over MIPS.sol, Optimist.sol,
NodeChecker.sol, ModelRegistry.sol and OptimistBatches.sol (`--sol-file` for one of them).
Surviving mutants are explained in tools/mutation_notes.toml (mutant id or glob -> verdict and reason);
a survivor without a note is listed as UNEXPLAINED.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts import mutants as sol  # noqa: E402

REPORT = ROOT / "docs" / "mutation.md"
SOL_RESULTS = ROOT / "mutants" / "solidity-results.json"     # kept for --reuse-solidity
PY_SAMPLE = ROOT / "mutants" / "python-sample.txt"            # the names a --py-sample run chose
NOTES = ROOT / "tools" / "mutation_notes.toml"
MUTMUT = Path(sys.executable).with_name("mutmut")
# mutmut exit codes (mutmut.stats.status_by_exit_code), folded into the statuses the report counts
PY_STATUS = {0: "survived", 1: "killed", 3: "killed", 5: "no tests", 33: "no tests", 34: "skipped",
             36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
             37: "killed", -11: "crashed", -9: "crashed", None: "not checked"}


@dataclass
class Survivor:
    id: str
    where: str
    change: str
    verdict: str
    reason: str


def load_notes() -> list[tuple[str, str, str]]:
    """(pattern, verdict, reason) from tools/mutation_notes.toml, in file order."""
    if not NOTES.exists():
        return []
    data = tomllib.loads(NOTES.read_text())
    return [(pat, str(v["verdict"]), str(v["reason"])) for pat, v in data.items()]


def explain(mutant_id: str, notes: list[tuple[str, str, str]]) -> tuple[str, str]:
    for pattern, verdict, reason in notes:
        if mutant_id == pattern or fnmatch.fnmatchcase(mutant_id, pattern):
            return verdict, reason
    return "UNEXPLAINED", "no note in tools/mutation_notes.toml"


# ----------------------------------------------------------------------------- Python (mutmut)

def mutmut_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]


def prepare_mutants_dir() -> None:
    """mutmut copies the sources into mutants/; the shared build and node_modules are linked, not copied."""
    out = ROOT / "mutants"
    out.mkdir(exist_ok=True)
    for name in ("build", "node_modules"):
        link, target = out / name, (ROOT / name).resolve()
        if not target.exists():
            raise SystemExit(f"{ROOT / name} is missing (fix: `make setup`)")
        if link.is_symlink() and link.resolve() == target:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


def run_mutmut(max_children: int, names: list[str]) -> None:
    prepare_mutants_dir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # mutmut puts mutants/ first itself
    cmd = [str(MUTMUT), "run", "--max-children", str(max_children), *names]
    with open(ROOT / "mutants" / "run.log", "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"mutmut failed ({proc.returncode}); see mutants/run.log")


def python_mutant_names(modules: list[str] | None = None) -> list[str]:
    """Every mutant mutmut generated for the listed modules (all of only_mutate if None), generating
    them first if needed."""
    paths = mutmut_config()["only_mutate"]
    metas = [ROOT / "mutants" / f"{path}.meta" for path in paths]
    if not all(m.exists() for m in metas):
        run_mutmut(1, ["mipsvm.state.x_decode_state__mutmut_1"])   # generates every mutant, runs one
    return sorted(name for path, m in zip(paths, metas, strict=True) if modules is None or path in modules
                  for name in json.loads(m.read_text())["exit_code_by_key"])


def python_sample(n: int, seed: int, modules: list[str] | None = None) -> list[str]:
    """A seeded sample of `n` mutant names (of `modules` only if given), the same for the same sources
    and seed."""
    names = python_mutant_names(modules)
    return sorted(random.Random(seed).sample(names, min(n, len(names))))


def python_results(sample: set[str] | None) -> dict[str, dict[str, str]]:
    """{module path: {mutant name: status}} from mutmut's meta files (only `sample` if given)."""
    out = {}
    for path in mutmut_config()["only_mutate"]:
        meta = ROOT / "mutants" / f"{path}.meta"
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        out[path] = {name: PY_STATUS.get(code, "suspicious") for name, code in codes.items()
                     if sample is None or name in sample}
    return out


def mutmut_diff(name: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(MUTMUT), "show", name], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("-", "+")) and not ln.startswith(("---", "+++"))]
    return " / ".join(ln.strip() for ln in lines)[:300]


def save_sol_outcomes(outcomes: list[sol.Outcome], seconds: float) -> None:
    SOL_RESULTS.parent.mkdir(exist_ok=True)
    SOL_RESULTS.write_text(json.dumps({"seconds": seconds, "outcomes": [
        {"id": o.mutant.id, "status": o.status, "seconds": o.seconds, "detail": o.detail} for o in outcomes]}))


def load_sol_outcomes(mutants: list[sol.Mutant]) -> tuple[list[sol.Outcome], float]:
    """Stored outcomes whose mutant still exists in the current sources (ids are content-based)."""
    if not SOL_RESULTS.exists():
        raise SystemExit(f"{SOL_RESULTS.relative_to(ROOT)} is missing: run without --reuse-solidity first")
    data = json.loads(SOL_RESULTS.read_text())
    by_id = {m.id: m for m in mutants}
    outcomes = [sol.Outcome(by_id[o["id"]], o["status"], o["seconds"], o["detail"])
                for o in data["outcomes"] if o["id"] in by_id]
    return outcomes, float(data["seconds"])


# ----------------------------------------------------------------------------- report

def score(counts: Counter[str]) -> tuple[int, int, float]:
    """(killed, judged, percent): timeouts count as killed; 'no tests' counts against the score."""
    killed = counts["killed"] + counts["timeout"]
    judged = killed + counts["survived"] + counts["no tests"]
    return killed, judged, 100.0 * killed / judged if judged else 0.0


def write_report(py: dict[str, dict[str, str]] | None, py_total: int | None, sol_outcomes: list[sol.Outcome] | None,
                 sol_total: int, sources: dict[str, str], seconds: dict[str, float]) -> str:
    notes = load_notes()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    lines = ["# Mutation testing", "",
             f"Generated by `make mutation` (tools/mutation.py) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
             f"at commit {commit or '?'}. A mutant is *killed* when at least one of its tests fails; the "
             "score is killed / (killed + survived + not covered). Survivors are explained in "
             "tools/mutation_notes.toml as **equivalent** (no test can tell) or **accepted** (a real "
             "difference judged not worth a test, with the reason).", ""]
    survivors: list[Survivor] = []
    if py is not None:
        lines += ["## Python (mutmut)", "",
                  f"Tests: {', '.join(mutmut_config()['pytest_add_cli_args_test_selection'])} "
                  "(fastest first, stopping at the first failure); "
                  + (f"a seeded random sample of {sum(len(v) for v in py.values())} of the {py_total} "
                     "mutants mutmut generates (`--py-sample`); " if py_total else "every mutant; ")
                  + (f"{seconds['python'] / 60:.0f} min." if "python" in seconds
                     else "stored results of earlier runs (`--reuse-python`)."), "",
                  "| module | mutants | killed | survived | not covered | timeout | not run | score |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        total: Counter[str] = Counter()
        for path, statuses in py.items():
            if not statuses:
                continue                      # a module left out of the sample (--py-module)
            c = Counter(statuses.values())
            total += c
            k, j, pct = score(c)
            lines.append(f"| {path} | {len(statuses)} | {k} | {c['survived']} | {c['no tests']} | "
                         f"{c['timeout']} | {c['not checked']} | {pct:.1f}% |")
            for name, status in sorted(statuses.items()):
                if status in ("survived", "no tests"):
                    verdict, reason = explain(name, notes)
                    survivors.append(Survivor(name, path, mutmut_diff(name), verdict,
                                              reason if status == "survived" else f"(not covered) {reason}"))
        k, j, pct = score(total)
        lines += [f"| **all** | {sum(len(s) for s in py.values())} | {k} | {total['survived']} | "
                  f"{total['no tests']} | {total['timeout']} | {total['not checked']} | **{pct:.1f}%** |", "",
                  "*not covered*: no selected test executes the mutated function (counts against the score); "
                  "*timeout*: the tests ran past mutmut's limit (an infinite loop: counted as killed); "
                  "*not run*: left unchecked (an interrupted run).", ""]
    if sol_outcomes is not None:
        c = Counter(o.status for o in sol_outcomes)
        k, j, pct = score(c)
        lines += ["## Solidity (contracts/mutants.py)", "",
                  f"{len(sol_outcomes)} of {sol_total} generated mutants run "
                  f"({'all' if len(sol_outcomes) == sol_total else 'seeded samples stratified by operator, see --sol-limit and --sol-extend'}); "
                  f"{seconds.get('solidity', 0) / 60:.0f} min. Tests per file: "
                  + "; ".join(f"{f}: {', '.join(t)}" for f, t in sol.TARGETS.items()) + ".", "",
                  "| file | operator | run | killed | survived | invalid (does not compile) | error |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        groups: dict[tuple[str, str], Counter[str]] = {}
        for o in sol_outcomes:
            groups.setdefault((o.mutant.file, o.mutant.operator), Counter())[o.status] += 1
        for (f, op), g in sorted(groups.items()):
            lines.append(f"| {f} | {op} | {sum(g.values())} | {g['killed'] + g['timeout']} | {g['survived']} | "
                         f"{g['invalid']} | {g['error']} |")
        lines += [f"| **all** | | {len(sol_outcomes)} | {k} | {c['survived']} | {c['invalid']} | {c['error']} |",
                  "", f"Score: **{pct:.1f}%** ({k} / {j}).", ""]
        for o in sol_outcomes:
            if o.status in ("survived", "error"):
                verdict, reason = explain(o.mutant.id, notes)
                change = f"`{o.mutant.original_line.strip()}` → `{o.mutant.mutated_line(sources[o.mutant.file])}`"
                survivors.append(Survivor(o.mutant.id, f"{o.mutant.file}:{o.mutant.line}", change, verdict,
                                          reason if o.status == "survived" else f"(test error: {o.detail}) {reason}"))
    lines += ["## Survivors", ""]
    if not survivors:
        lines.append("None.")
    else:
        lines += ["| mutant | where | change | verdict | why |", "|---|---|---|---|---|"]
        for s in survivors:
            cell = s.change.replace("|", "\\|")
            lines.append(f"| {s.id} | {s.where} | {cell} | {s.verdict} | {s.reason.replace('|', '/')} |")
    REPORT.write_text("\n".join(lines) + "\n")
    unexplained = sum(s.verdict == "UNEXPLAINED" for s in survivors)
    return f"wrote {REPORT.relative_to(ROOT)}: {len(survivors)} survivors, {unexplained} unexplained"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-python", action="store_true", help="skip the mutmut run")
    parser.add_argument("--no-solidity", action="store_true", help="skip the Solidity mutants")
    parser.add_argument("--reuse-python", action="store_true",
                        help="report mutmut's stored results without running it again")
    parser.add_argument("--reuse-solidity", action="store_true",
                        help="report the stored Solidity outcomes (mutants/solidity-results.json) again")
    parser.add_argument("--sol-file", action="append", choices=sorted(sol.TARGETS),
                        help="only mutants of this Solidity file (repeatable)")
    parser.add_argument("--sol-function", action="append", metavar="NAME",
                        help="only Solidity mutants in the body of this function (repeatable; see contracts/mutants.py "
                             "--function, and its --first to run the tests that reach them first)")
    parser.add_argument("--sol-extend", action="store_true",
                        help="add a new sample to the stored Solidity outcomes instead of replacing them")
    parser.add_argument("--sol-resume", action="store_true",
                        help="continue an interrupted run: the same sample (--sol-limit, --seed, --sol-file), "
                             "only the mutants without a stored outcome")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="with --reuse-solidity: run the stored Solidity survivors again first")
    parser.add_argument("--python-mutants", nargs="*", default=[], help="only these mutmut names (globs)")
    parser.add_argument("--py-sample", type=int, default=None,
                        help="run a seeded sample of this many Python mutants (default: all)")
    parser.add_argument("--py-module", action="append", choices=mutmut_config()["only_mutate"],
                        help="with --py-sample: sample only this module's mutants (repeatable)")
    parser.add_argument("--py-extend", action="store_true",
                        help="with --py-sample: add the new sample to the stored one instead of replacing it")
    parser.add_argument("--sol-limit", type=int, default=None,
                        help="run a seeded sample of this many Solidity mutants (default: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutmut workers")
    args = parser.parse_args(argv)
    if args.sol_limit is not None and args.sol_limit < 1:
        parser.error("--sol-limit must be at least 1")
    if args.py_sample is not None and args.py_sample < 1:
        parser.error("--py-sample must be at least 1")
    seconds: dict[str, float] = {}
    py, py_total = None, None
    if not args.no_python:
        started = time.monotonic()
        if not args.reuse_python:
            names = list(args.python_mutants)
            if args.py_sample is not None:
                names = python_sample(args.py_sample, args.seed, args.py_module)
                if args.py_extend and PY_SAMPLE.exists():      # add to the stored sample, run only new ones
                    done = set(PY_SAMPLE.read_text().split())
                    names = [n for n in names if n not in done]
                    PY_SAMPLE.write_text("\n".join(sorted(done | set(names))) + "\n")
                else:
                    PY_SAMPLE.write_text("\n".join(names) + "\n")
            run_mutmut(args.max_children, names)
        if not args.reuse_python:
            seconds["python"] = time.monotonic() - started
        sampled = args.py_sample is not None or (args.reuse_python and PY_SAMPLE.exists())
        py = python_results(set(PY_SAMPLE.read_text().split()) if sampled else None)
        py_total = len(python_mutant_names(args.py_module)) if sampled else None
    outcomes = None
    mutants, sources = sol.all_mutants()
    if args.reuse_solidity:
        outcomes, seconds["solidity"] = load_sol_outcomes(mutants)
        if args.rerun_survivors:                 # judge the stored survivors again with the current tests
            started = time.monotonic()
            again = [o.mutant for o in outcomes if o.status in ("survived", "error")]
            fresh = {o.mutant.id: o for o in sol.run_all(again, sources)}
            for o in fresh.values():
                print(f"rerun: {o.status:9} {o.seconds:5.1f}s {o.mutant.id} {o.detail}", flush=True)
            outcomes = [fresh.get(o.mutant.id, o) for o in outcomes]
            seconds["solidity"] += time.monotonic() - started
            save_sol_outcomes(outcomes, seconds["solidity"])
    elif not args.no_solidity:
        started = time.monotonic()
        pool = [m for m in mutants if not args.sol_file or m.file in args.sol_file]
        if args.sol_function:
            pool = sol.in_functions(pool, args.sol_function)
        stored: list[sol.Outcome] = []
        if (args.sol_extend or args.sol_resume) and SOL_RESULTS.exists():   # add to the stored outcomes
            stored, seconds["solidity"] = load_sol_outcomes(mutants)
        seen = {o.mutant.id for o in stored}
        if args.sol_resume:                  # the same sample as the interrupted run, minus what it judged
            chosen = [m for m in sol.select(pool, args.sol_limit, args.seed) if m.id not in seen]
        else:
            chosen = sol.select([m for m in pool if m.id not in seen], args.sol_limit, args.seed)
        random.Random(args.seed).shuffle(chosen)     # an interrupted run has judged a random part of its sample
        outcomes = list(stored)
        for i, o in enumerate(sol.run_all(chosen, sources, earlier=stored), 1):
            print(f"[{i}/{len(chosen)}] {o.status:9} {o.seconds:5.1f}s {o.mutant.id} "
                  f"{o.mutant.file}:{o.mutant.line} {o.detail}", flush=True)
            outcomes.append(o)
            save_sol_outcomes(outcomes, seconds.get("solidity", 0.0) + time.monotonic() - started)  # resumable
        seconds["solidity"] = seconds.get("solidity", 0.0) + time.monotonic() - started
    print(write_report(py, py_total, outcomes, len(mutants), sources, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
