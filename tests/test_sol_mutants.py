"""The Solidity mutant generator (contracts/mutants.py): what it mutates, what it leaves alone, stable ids."""

from __future__ import annotations

import pytest

import contracts.mutants as sol_mutants
from contracts.compile import DEFAULT_SRC_DIR
from contracts.mutants import (
    TARGETS,
    added_lines,
    all_mutants,
    generate,
    in_functions,
    main,
    ordered_tests,
    parse_durations,
    select,
)

SNIPPET = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

contract Game {
    uint32 challengerClock; // compare a < b in a comment
    uint32 defenderClock;
    error Late(uint256 deadline);

    function prove(uint256 lastMoveAt) external view {
        uint256 deadline = lastMoveAt + challengerClock;
        if (block.timestamp > deadline) revert Late(deadline);
        require(defenderClock != 0, "a <= b in a string");
    }
}
"""


def _by_op(file: str = "Optimist.sol") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in generate(file, SNIPPET):
        out.setdefault(m.operator, []).append(m.mutated_line(SNIPPET))
    return out


def test_operators_on_a_snippet() -> None:
    ops = _by_op()
    assert ops["comparison"] == ["if (block.timestamp >= deadline) revert Late(deadline);",
                                 'require(defenderClock == 0, "a <= b in a string");']
    assert ops["deadline"] == ["uint256 deadline = lastMoveAt + challengerClock + 1;",
                               "uint256 deadline = lastMoveAt + challengerClock - 1;"]
    assert "uint256 deadline = lastMoveAt + defenderClock;" in ops["swap"]
    assert 'require(challengerClock != 0, "a <= b in a string");' in ops["swap"]
    assert ops["drop-check"] == ["", ""]
    assert ops["arith"] == ["uint256 deadline = lastMoveAt - challengerClock;"]
    assert ops["literal"] == ['require(defenderClock != 1, "a <= b in a string");']


def test_declarations_comments_and_strings_are_not_mutated() -> None:
    for m in generate("Optimist.sol", SNIPPET):
        assert m.line >= 10, m                      # only inside the function body
        changed = m.apply(SNIPPET)
        assert changed != SNIPPET and "compare a < b in a comment" in changed
        assert "a <= b in a string" in changed or m.operator == "drop-check"


def test_dropped_check_removes_the_whole_statement() -> None:
    drops = [m.apply(SNIPPET) for m in generate("Optimist.sol", SNIPPET) if m.operator == "drop-check"]
    assert "revert Late" not in drops[0] and "require(" in drops[0]
    assert "require(" not in drops[1] and "revert Late" in drops[1]


def test_ids_survive_unrelated_edits_and_are_unique() -> None:
    before = {m.id: m.mutated_line(SNIPPET) for m in generate("Optimist.sol", SNIPPET)}
    shifted = SNIPPET.replace("contract Game {", "contract Game {\n    uint256 extra;\n\n")
    after = {m.id: m.mutated_line(shifted) for m in generate("Optimist.sol", shifted)}
    assert before == after
    assert len(before) == len(generate("Optimist.sol", SNIPPET))


@pytest.mark.parametrize("file", sorted(TARGETS))
def test_real_sources_yield_every_operator(file: str) -> None:
    source = (DEFAULT_SRC_DIR / file).read_text()
    mutants = generate(file, source)
    ops = {m.operator for m in mutants}
    assert {"comparison", "swap", "drop-check", "arith", "literal"} <= ops
    assert len({m.id for m in mutants}) == len(mutants)
    assert all(m.apply(source) != source for m in mutants)


def test_prove_deadline_clock_swap_is_generated() -> None:
    """The planted bug of issue 22 is one of the mutants (so the mutation run keeps checking it)."""
    source = (DEFAULT_SRC_DIR / "Optimist.sol").read_text()
    lines = {m.mutated_line(source) for m in generate("Optimist.sol", source) if m.operator == "swap"}
    assert "uint256 deadline = uint256(g.lastMoveAt) + g.defenderClock;" in lines


def test_sample_is_stratified_and_seeded() -> None:
    source = (DEFAULT_SRC_DIR / "Optimist.sol").read_text()
    mutants = generate("Optimist.sol", source)
    a, b = select(mutants, 10, seed=3), select(mutants, 10, seed=3)
    assert a == b and len(a) == 10
    assert {m.operator for m in a} == {m.operator for m in mutants}


def test_sample_covers_every_file_and_operator() -> None:
    """Stratified by (file, operator): NodeChecker.sol and ModelRegistry.sol (the two-phase checks and
    registerGraphModel) are sampled as often as MIPS.sol, whatever their share of the mutants."""
    mutants, _ = all_mutants()
    groups = {(m.file, m.operator) for m in mutants}
    assert {f for f, _ in groups} == set(TARGETS) >= {"MIPS.sol", "Optimist.sol", "NodeChecker.sol"}
    picked = select(mutants, len(groups), seed=22)
    assert {(m.file, m.operator) for m in picked} == groups


def test_two_phase_mutants_are_generated() -> None:
    """The phase switch of openGame/respond and enterNode's prev/next checks are mutated."""
    mutants, sources = all_mutants(("Optimist.sol", "NodeChecker.sol"))
    lines = {m.mutated_line(sources[m.file]) for m in mutants if m.operator == "swap"}
    assert any("res.graph ? Phase.Proof : Phase.Proof" in line for line in lines)
    assert "if (root != next) revert ArgRootMismatch(i, root, prev);" in lines


def test_durations_sum_the_phases_of_each_test() -> None:
    report = """============ slowest durations ============
1.50s call     tests/test_x.py::test_a[one two]
0.25s setup    tests/test_x.py::test_a[one two]
0.00s teardown tests/test_x.py::test_b
3 passed in 2.00s
"""
    assert parse_durations(report) == {"tests/test_x.py::test_a[one two]": 1.75, "tests/test_x.py::test_b": 0.0}


def test_cli_rejects_a_bad_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--limit", "0", "--list"])
    assert exc.value.code == 2 and "--limit" in capsys.readouterr().err


def test_mutants_know_their_function() -> None:
    """Each mutant names the function whose body holds it: --function picks Optimist's batch hooks."""
    assert {m.function for m in generate("Optimist.sol", SNIPPET)} == {"prove"}
    mutants, sources = all_mutants(("Optimist.sol",))
    hooks = in_functions(mutants, ["settleLeaves", "fund"])
    assert hooks and {m.function for m in hooks} == {"settleLeaves", "fund"}
    source = sources["Optimist.sol"]
    for m in hooks:
        name = m.function
        header = source.rfind("function ", 0, m.start)
        assert source.startswith(f"function {name}(", header)


def test_added_lines_of_a_diff() -> None:
    """--since keeps the mutants on the new side of `git diff -U0` hunks (a pure deletion keeps none)."""
    diff = """diff --git a/x.sol b/x.sol
@@ -3 +3 @@ contract X {
-    a < b;
+    a <= b;
@@ -10,0 +11,2 @@ function f() {
+    x += 1;
+    y += 1;
@@ -20,2 +21,0 @@
-    gone;
-    gone;
"""
    assert added_lines(diff) == {3, 11, 12}


def test_first_test_files_run_first(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--first puts the named target test files ahead of the file's others, the rest in TARGETS order."""
    monkeypatch.setattr(sol_mutants, "DURATIONS", tmp_path / "durations.json")
    monkeypatch.setattr(sol_mutants, "measure_durations", lambda f: {f"{f}::test_b": 2.0, f"{f}::test_a": 1.0})
    first = ("tests/test_contracts_request_batches.py", "tests/test_contracts_batches.py")
    order = ordered_tests("Optimist.sol", first)
    files = list(dict.fromkeys(node.split("::")[0] for node in order))
    assert files[:2] == ["tests/test_contracts_batches.py", "tests/test_contracts_request_batches.py"]
    assert files[2:] == [f for f in TARGETS["Optimist.sol"] if f not in first]
    assert order[:2] == ["tests/test_contracts_batches.py::test_a", "tests/test_contracts_batches.py::test_b"]


@pytest.mark.parametrize(("args", "message"), [
    (["--function", "noSuchFunction"], "no function noSuchFunction"),
    (["--file", "MIPS.sol", "--first", "tests/test_contracts_batches.py"], "not a target test file"),
    (["--since", "no-such-commit"], "--since no-such-commit"),
])
def test_cli_rejects_unknown_functions_tests_and_commits(args: list[str], message: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--list"])
    assert exc.value.code == 2 and message in capsys.readouterr().err
