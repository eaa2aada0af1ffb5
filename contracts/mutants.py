"""Solidity mutation testing: generate small mutants of contract sources, compile each, run its tests.

Mutants are found by patterns over the source as it is now (never by line numbers), with comments and
string literals masked so only code is mutated. Operators:

- `comparison`: a relational operator moved across its boundary (`<` <-> `<=`, `>` <-> `>=`) or negated
  (`==` <-> `!=`).
- `swap`: a per-file pair of look-alike names exchanged at one occurrence (the two clocks, lo/hi, rs/rt...).
- `deadline`: `deadline = X` becomes `X + 1` and `X - 1`.
- `drop-check`: a one-line `if (...) revert ...;`, `require(...)` or `if (...) return _halt(...);` removed.
- `arith`: a binary `+` <-> `-`.
- `literal`: a small decimal literal in code moved by one (step bounds, link offsets, shifts).

Each mutant is compiled from a private copy of contracts/src (OPTIMIST_SOL_SRC), so the shared build
directory only gains content-keyed artifacts; a mutant that does not compile is reported as invalid.

`--function NAME` keeps the mutants in the named functions' bodies (e.g. Optimist.sol's batch hooks), and
`--first TEST_FILE` runs those target test files before the file's others (the only tests that reach such
code), e.g. `--file Optimist.sol --function settleLeaves --first tests/test_contracts_batches.py`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from contracts.compile import DEFAULT_SRC_DIR, REPO_ROOT, CompileError

# Which tests judge a mutant of each file, fastest first (pytest stops at the first failure).
TARGETS: dict[str, tuple[str, ...]] = {
    "MIPS.sol": ("tests/test_mips_sol_table.py", "tests/test_mips_sol.py"),
    "Optimist.sol": ("tests/test_contracts_boundaries.py", "tests/test_contracts_game.py",
                     "tests/test_contracts_registry.py", "tests/test_contracts_two_phase.py",
                     "tests/test_contracts_callback.py", "tests/test_contracts_e2e.py",
                     "tests/test_daemon_two_phase_generation.py",
                     # the batch hooks (disputeLeaf, takeRequests, settleLeaves, fund, rejectLeaf, hasResult,
                     # checkClaim, the _reject they share) are driven only by OptimistBatches: its contract tests
                     "tests/test_contracts_batches.py", "tests/test_contracts_request_batches.py",
                     "tests/test_contracts_graph_entries.py"),
    # the two-phase game's transition checks (Optimist.enterNode forwards to NodeChecker.check), and the
    # stateless checks moved out of Optimist: registration (checkModel), program and graph claims
    "NodeChecker.sol": ("tests/test_node_checker_input_root.py", "tests/test_contracts_two_phase.py",
                        "tests/test_contracts_registry.py", "tests/test_contracts_boundaries.py",
                        "tests/test_contracts_game.py", "tests/test_contracts_e2e.py",
                        "tests/test_daemon_two_phase_generation.py"),
    # batched results (postBatch, verifyLeaf for Optimist.disputeLeaf, finalizeBatch) and request / entry batches
    # (requestBatch*, postEntries, rejectEntry, finalizeEntries, cancelEntries, leafOutcome; graph models' entries;
    # blobs on anvil), then the client, daemons and CLI that drive them (test_daemon_batches.py, ~55 s, is left out:
    # postBatch's daemon path adds no contract behaviour the contract tests do not pin)
    "OptimistBatches.sol": ("tests/test_contracts_batches.py", "tests/test_contracts_request_batches.py",
                            "tests/test_contracts_graph_entries.py",
                            "tests/test_contracts_request_batches_anvil.py", "tests/test_client_entries.py",
                            "tests/test_cli_entries.py", "tests/test_daemon_entries.py"),
    # registerModel / registerGraphModel / initialStateHash (C_0 of a graph model)
    "ModelRegistry.sol": ("tests/test_contracts_registry.py", "tests/test_contracts_two_phase.py"),
}
SWAPS: dict[str, tuple[tuple[str, str], ...]] = {
    "MIPS.sol": (("_rs(", "_rt("), ("s.hi", "s.lo")),
    "Optimist.sol": (("challengerClock", "defenderClock"), ("g.lo", "g.hi"), ("loHash", "hiHash"),
                     ("challengeBond", "resultBond"), ("Phase.Transition", "Phase.Proof")),
    "NodeChecker.sol": (("prev", "next"), ("inputBase", "outputBase"), ("inputSize", "outputSize")),
    "ModelRegistry.sol": (("inputLength", "outputLength"), ("inputBase", "outputBase"),
                          ("inputSize", "outputSize")),
    "OptimistBatches.sol": (("nodes[2 * i]", "right"), ("b.count", "b.disputed")),
}
COMPARISONS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_COMPARISON = re.compile(r"(?<![<>=!])(<=|>=|==|!=|<|>)(?![<>=])")
_ARITH = re.compile(r"(?<=\S) ([+-]) (?=\S)")
_LITERAL = re.compile(r"(?<![\w.])(\d{1,3})(?![\w.])")
_DEADLINE = re.compile(r"\bdeadline\s*=\s*([^;=][^;]*);")
_CHECK = re.compile(r"^[ \t]*(?:if \(.*\) (?:revert\b|return _halt\().*;|require\(.*\);)[ \t]*\n", re.M)
_SKIP_LINE = re.compile(r"^\s*(pragma|import|error|event|//)\b|\bconstant\b|\bassembly\b")


@dataclass(frozen=True)
class Mutant:
    """One textual change to one source file."""

    file: str
    operator: str
    start: int              # offsets into the source the mutant was generated from
    end: int
    replacement: str
    line: int
    column: int
    original_line: str
    occurrence: int = 0     # how many earlier mutants share this one's line text and change
    function: str = ""      # the function or modifier whose body holds it (not part of the id)

    def apply(self, source: str) -> str:
        return source[:self.start] + self.replacement + source[self.end:]

    def mutated_line(self, source: str) -> str:
        """The mutated line, as it reads after `apply` (empty for a dropped check)."""
        if not self.replacement and self.operator == "drop-check":
            return ""
        text = self.original_line
        return (text[:self.column] + self.replacement + text[self.column + self.end - self.start:]).strip()

    @property
    def id(self) -> str:
        """Stable across unrelated edits: file, operator, the line's text and the change within it."""
        key = f"{self.file}|{self.operator}|{self.original_line.strip()}|{self.column}|" \
              f"{self.end - self.start}|{self.replacement}|{self.occurrence}"
        return f"{Path(self.file).stem}-{self.operator}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _mask(source: str) -> str:
    """`source` with comments and string literals replaced by spaces (same length, same lines)."""
    def blank(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\])*"', blank, source, flags=re.S)


def _body_ranges(masked: str, keyword: str = r"function|modifier") -> list[tuple[int, int]]:
    """Character ranges of function and modifier bodies (code that executes), or of `keyword` blocks."""
    return [(a, b) for a, b, _ in _named_bodies(masked, keyword)]


def _named_bodies(masked: str, keyword: str = r"function|modifier") -> list[tuple[int, int, str]]:
    """`_body_ranges` with the name after the keyword ('' if none, e.g. an assembly block)."""
    ranges = []
    for m in re.finditer(rf"\b({keyword})\b[^{{;]*\{{", masked):
        depth, i = 1, m.end()
        while depth and i < len(masked):
            depth += {"{": 1, "}": -1}.get(masked[i], 0)
            i += 1
        name = re.match(r"\s*(\w*)", masked[m.end(1):])
        ranges.append((m.end(), i - 1, name.group(1) if name else ""))
    return ranges


def generate(file: str, source: str) -> list[Mutant]:
    """Every mutant of `source` (the text of contracts/src/`file`), in source order."""
    masked = _mask(source)
    named = _named_bodies(masked)
    bodies = [(a, b) for a, b, _ in named]
    inline_assembly = _body_ranges(masked, "assembly")
    line_starts = [0] + [i + 1 for i, c in enumerate(source) if c == "\n"]

    def make(operator: str, start: int, end: int, replacement: str) -> Mutant | None:
        if not any(a <= start and end <= b for a, b in bodies):
            return None
        if any(a <= start < b for a, b in inline_assembly):
            return None
        line = _line_of(line_starts, start)
        text = source[line_starts[line - 1]:source.find("\n", start) if "\n" in source[start:] else len(source)]
        if _SKIP_LINE.search(masked[line_starts[line - 1]:line_starts[line - 1] + len(text)]):
            return None
        function = next(name for a, b, name in named if a <= start and end <= b)
        return Mutant(file, operator, start, end, replacement, line, start - line_starts[line - 1], text,
                      function=function)

    found: list[Mutant | None] = []
    for m in _COMPARISON.finditer(masked):
        found.append(make("comparison", m.start(), m.end(), COMPARISONS[m.group(1)]))
    for a, b in SWAPS.get(file, ()):
        for name, other in ((a, b), (b, a)):
            for m in re.finditer(re.escape(name) + (r"\b" if name[-1].isalnum() else ""), masked):
                found.append(make("swap", m.start(), m.end(), other))
    for m in _DEADLINE.finditer(masked):
        for delta in ("+ 1", "- 1"):
            found.append(make("deadline", m.end(1), m.end(1), f" {delta}"))
    for m in _CHECK.finditer(masked):
        found.append(make("drop-check", m.start(), m.end(), ""))
    for m in _ARITH.finditer(masked):
        found.append(make("arith", m.start(1), m.end(1), "-" if m.group(1) == "+" else "+"))
    for m in _LITERAL.finditer(masked):
        value = int(m.group(1))
        found.append(make("literal", m.start(), m.end(), str(value + 1)))
    mutants = [m for m in found if m is not None]
    unique = sorted({(m.start, m.end, m.replacement): m for m in mutants}.values(),
                    key=lambda m: (m.start, m.operator, m.replacement))
    seen: dict[str, int] = {}
    out = []
    for m in unique:
        base = m.id
        out.append(replace(m, occurrence=seen.get(base, 0)))
        seen[base] = seen.get(base, 0) + 1
    return out


def _line_of(line_starts: list[int], offset: int) -> int:
    lo, hi = 0, len(line_starts)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if line_starts[mid] <= offset:
            lo = mid
        else:
            hi = mid
    return lo + 1


# ----------------------------------------------------------------------------- running mutants

@dataclass
class Outcome:
    mutant: Mutant
    status: str             # killed | survived | invalid | timeout | error
    seconds: float
    detail: str = ""


def _compile_check(src_dir: Path, file: str) -> None:
    """Compile the mutant in a child process with the override (fills the content-keyed cache)."""
    code = ("from contracts.evm import compile_mips; from contracts.system import compile_system; "
            f"compile_mips() if {file!r} == 'MIPS.sol' else compile_system()")
    env = {**os.environ, "OPTIMIST_SOL_SRC": str(src_dir), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        errors = [ln.strip() for ln in lines if "Error:" in ln and "Traceback" not in ln]
        raise CompileError((errors or lines or ["compile failed"])[-1])


def run_mutant(mutant: Mutant, source: str, workdir: Path, timeout: float,
               tests: list[str] | None = None) -> Outcome:
    """Compile `mutant` from a private source copy and run its file's tests (`tests`: their node ids in
    the order to run, default the TARGETS files); killed iff a test fails."""
    started = time.monotonic()
    src = workdir / mutant.id / "src"
    if src.parent.exists():
        shutil.rmtree(src.parent)
    shutil.copytree(DEFAULT_SRC_DIR, src)
    (src / mutant.file).write_text(mutant.apply(source))
    try:
        try:
            _compile_check(src, mutant.file)
        except CompileError as exc:
            return Outcome(mutant, "invalid", time.monotonic() - started, str(exc)[:200])
        env = {**os.environ, "OPTIMIST_SOL_SRC": str(src), "PYTHONPATH": str(REPO_ROOT)}
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly",
               *(tests or TARGETS[mutant.file])]
        try:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(mutant, "timeout", time.monotonic() - started)
        tail = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED") or ln.startswith("ERROR")]
        status = {0: "survived", 1: "killed"}.get(proc.returncode, "error")
        detail = tail[0][:200] if tail else proc.stdout.strip().splitlines()[-1:][0][:200] if proc.stdout.strip() else ""
        return Outcome(mutant, status, time.monotonic() - started, detail)
    finally:
        shutil.rmtree(src.parent, ignore_errors=True)


def select(mutants: list[Mutant], limit: int | None, seed: int, only: list[str] | None = None) -> list[Mutant]:
    """`only` (ids or operators) if given, else a seeded sample of `limit`, stratified by file and
    operator (round-robin over the (file, operator) groups)."""
    if only:
        return [m for m in mutants if m.id in only or m.operator in only]
    if limit is None or limit >= len(mutants):
        return mutants
    rng = random.Random(seed)
    by_group: dict[tuple[str, str], list[Mutant]] = {}
    for m in mutants:
        by_group.setdefault((m.file, m.operator), []).append(m)
    for group in by_group.values():
        rng.shuffle(group)
    picked: list[Mutant] = []
    while len(picked) < limit:
        for key in sorted(by_group):
            if by_group[key] and len(picked) < limit:
                picked.append(by_group[key].pop())
    return sorted(picked, key=lambda m: (m.file, m.start))


def in_functions(mutants: list[Mutant], names: list[str]) -> list[Mutant]:
    """The mutants in the bodies of the functions (or modifiers) named `names`."""
    return [m for m in mutants if m.function in names]


def changed_lines(file: str, since: str) -> set[int]:
    """Line numbers of contracts/src/`file` added or changed since commit `since` (its working-tree text)."""
    diff = subprocess.run(["git", "diff", "--no-color", "-U0", since, "--", str(DEFAULT_SRC_DIR / file)],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return added_lines(diff)


def added_lines(diff: str) -> set[int]:
    """New-side line numbers of the hunks of a `git diff -U0` of one file (a pure deletion adds none)."""
    lines: set[int] = set()
    for m in re.finditer(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", diff, re.M):
        start, count = int(m.group(1)), int(m.group(2) or 1)
        lines.update(range(start, start + count))
    return lines


def all_mutants(files: tuple[str, ...] = tuple(TARGETS)) -> tuple[list[Mutant], dict[str, str]]:
    """Mutants of every target file, and the sources they were generated from."""
    sources = {f: (DEFAULT_SRC_DIR / f).read_text() for f in files}
    return [m for f in files for m in generate(f, sources[f])], sources


def run_all(mutants: list[Mutant], sources: dict[str, str], timeout: float = 900,
            fastest_first: bool = True, earlier: list[Outcome] = (), first: tuple[str, ...] = ()) -> Iterator[Outcome]:
    """Run each mutant in turn (one at a time: compiling is the bottleneck). Unless `fastest_first` is
    false its tests run killers first: the tests that killed a mutant in this run or in `earlier`
    outcomes (most kills first), then the others in `ordered_tests` order (`first`: these test files
    before the file's other targets)."""
    orders = {f: ordered_tests(f, first) for f in {m.file for m in mutants}} if fastest_first else {}
    kills = Counter(killing_test(o.detail) for o in earlier if o.status == "killed")
    with tempfile.TemporaryDirectory(prefix="sol-mutants-") as tmp:
        for m in mutants:
            order = orders.get(m.file)
            if order:
                order = sorted(order, key=lambda node: -kills[node])     # stable: ties keep their order
            outcome = run_mutant(m, sources[m.file], Path(tmp), timeout, order)
            if outcome.status == "killed":
                kills[killing_test(outcome.detail)] += 1
            yield outcome


def killing_test(detail: str) -> str:
    """The node id of an outcome's first failing test ('' if none is named)."""
    m = re.match(r"(?:FAILED|ERROR) (\S+)", detail)
    return m.group(1) if m else ""


# ----------------------------------------------------------------------------- test order

DURATIONS = REPO_ROOT / "mutants" / "sol-test-durations.json"   # per test file, keyed by its content
_DURATION_LINE = re.compile(r"^(\d+(?:\.\d+)?)s (?:setup|call|teardown)\s+(\S.*?)\s*$")


def measure_durations(test_file: str) -> dict[str, float]:
    """Seconds (setup + call + teardown) of each test of `test_file`, run once on the unmutated sources."""
    env = {k: v for k, v in os.environ.items() if k != "OPTIMIST_SOL_SRC"} | {"PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           "--durations=0", "--durations-min=0", test_file]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
        raise RuntimeError(f"{test_file} fails on the unmutated sources; fix it before mutation testing:\n{tail}")
    return parse_durations(proc.stdout)


def parse_durations(report: str) -> dict[str, float]:
    """{node id: setup + call + teardown seconds} from pytest's `--durations=0 --durations-min=0` report."""
    out: dict[str, float] = {}
    for line in report.splitlines():
        if m := _DURATION_LINE.match(line):
            out[m.group(2)] = out.get(m.group(2), 0.0) + float(m.group(1))
    return out


def ordered_tests(file: str, first: tuple[str, ...] = ()) -> list[str]:
    """Node ids of `file`'s target tests: test file by test file in TARGETS order (those of `first` before
    the others: a mutant restricted to code only they reach), a module's fixtures set up once, fastest test
    first within each, so a mutant run with -x stops early. Durations are measured once per test file
    content and kept in mutants/sol-test-durations.json."""
    cache = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    order: list[str] = []
    targets = TARGETS[file]
    for test_file in sorted(targets, key=lambda t: (t not in first, targets.index(t))):
        digest = hashlib.sha256((REPO_ROOT / test_file).read_bytes()).hexdigest()
        entry = cache.get(test_file)
        if not entry or entry.get("digest") != digest:
            entry = cache[test_file] = {"digest": digest, "seconds": measure_durations(test_file)}
            DURATIONS.parent.mkdir(exist_ok=True)
            DURATIONS.write_text(json.dumps(cache, indent=1))
        seconds: dict[str, float] = entry["seconds"]
        order += sorted(seconds, key=lambda node: seconds[node])
    return order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--file", action="append", choices=sorted(TARGETS), help="only this source file")
    parser.add_argument("--limit", type=int, help="run a seeded sample of this many mutants")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", nargs="*", help="mutant ids or operator names to run")
    parser.add_argument("--function", action="append", metavar="NAME",
                        help="only mutants in the body of this function or modifier (repeatable; any file)")
    parser.add_argument("--since", metavar="COMMIT",
                        help="only mutants on lines added or changed since COMMIT (git diff COMMIT -- the source)")
    parser.add_argument("--first", action="append", default=[], metavar="TEST_FILE",
                        help="run this target test file before the file's others (repeatable), e.g. the batch "
                             "tests for Optimist.sol's batch hooks, which the other target tests never reach")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    targets = {t for f in args.file or TARGETS for t in TARGETS[f]}
    if unknown_tests := set(args.first) - targets:
        parser.error(f"--first {', '.join(sorted(unknown_tests))}: not a target test file of the chosen files")
    mutants, sources = all_mutants(tuple(args.file or TARGETS))
    if args.function:
        defined = {name for source in sources.values() for _, _, name in _named_bodies(_mask(source))}
        if unknown := set(args.function) - defined:
            parser.error(f"no function {', '.join(sorted(unknown))} in {', '.join(sorted(sources))}")
        mutants = in_functions(mutants, args.function)
    if args.since:
        try:
            changed = {f: changed_lines(f, args.since) for f in sources}
        except subprocess.CalledProcessError as exc:
            parser.error(f"--since {args.since}: {exc.stderr.strip() or 'git diff failed'}")
        mutants = [m for m in mutants if m.line in changed[m.file]]
    chosen = select(mutants, args.limit, args.seed, args.only)
    if args.list:
        for m in chosen:
            print(f"{m.id}  {m.file}:{m.line}  {m.original_line.strip()}  =>  {m.mutated_line(sources[m.file])}")
        print(f"{len(chosen)} of {len(mutants)} mutants")
        return 0
    random.Random(args.seed).shuffle(chosen)     # an interrupted run has judged a random part of its mutants
    for o in run_all(chosen, sources, first=tuple(args.first)):
        print(f"{o.status:9} {o.seconds:6.1f}s {o.mutant.id} {o.mutant.file}:{o.mutant.line} {o.detail}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
