"""`optimist bench`: the quick run measures every figure for real; rendering and range checks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from optimist.bench import fields as F
from optimist.bench import report as R

REPO = Path(__file__).resolve().parents[1]


def _problems(fields: tuple[F.Field, ...], figures: dict, model: str | None) -> list[str]:
    """Every figure that is neither a sane measurement nor excused (quick skip / module not built)."""
    problems = []
    for field in fields:
        stage = F.STAGES[field.stage]
        if model is not None and not F.applies(stage, model):
            if field.key in figures:
                problems.append(f"{field.key}: reported for {model}, which it does not apply to")
            continue
        if field.key not in figures:
            problems.append(f"{field.key}: missing")
            continue
        value = figures[field.key]
        missing = F.missing_modules(stage)
        if stage.quick_skip:
            if value != f"skipped: {stage.quick_skip}":
                problems.append(f"{field.key}: --quick must skip it with its reason, got {value!r}")
        elif missing:
            if not (isinstance(value, str) and value.startswith("n/a:") and missing[0] in value):
                problems.append(f"{field.key}: {missing[0]} is not built, so it must say n/a, got {value!r}")
        else:
            why = F.check_value(field, value)
            if why:
                problems.append(why)
    return problems


@pytest.fixture(scope="module")
def quick_report() -> dict:
    proc = subprocess.run([sys.executable, "-m", "optimist.cli", "bench", "--json", "--quick"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_quick_bench_measures_every_field(quick_report: dict) -> None:
    assert quick_report["mode"] == "quick"
    (model,) = quick_report["models"]
    assert model["name"] == F.MNIST_MODEL            # opML's yardstick, whatever else is bundled
    problems = _problems(F.MODEL_FIELDS, model["figures"], model["name"])
    problems += _problems(F.SYSTEM_FIELDS, quick_report["system"]["figures"], None)
    assert not problems, "\n".join(problems + [f"notes: {model['notes']}"])


def test_quick_bench_figures_agree_with_each_other(quick_report: dict) -> None:
    f = quick_report["models"][0]["figures"]
    assert f["parameters"] == 784 * 128 + 128 + 128 * 10 + 10     # the 784-128-10 MLP
    assert f["macs"] == 784 * 128 + 128 * 10
    assert f["vm_matches_native"] is True
    assert f["steps_per_s"] == pytest.approx(f["vm_steps"] / f["vm_s"])
    assert f["insns_per_mac"] == pytest.approx(f["vm_steps"] / f["macs"])
    assert f["vm_s_over_opml_claim"] == pytest.approx(f["vm_s"] / F.OPML_MNIST_VM_CLAIM_S)
    assert abs(f["dispute_eth_tester_rounds"] - math.log2(f["vm_steps"])) <= 1.5
    assert f["dispute_eth_tester_game_s"] < f["dispute_eth_tester_s"]
    sizes = quick_report["system"]["figures"]["runtime_bytes"]
    assert next(iter(sizes)) == "MIPS"
    cases = quick_report["system"]["figures"]["step_gas_cases"]
    assert quick_report["system"]["figures"]["step_gas_worst"] == max(cases.values())


def test_operator_throughput_figures_agree_with_each_other(quick_report: dict) -> None:
    f = quick_report["models"][0]["figures"]
    rates, best, per_core = (f[k] for k in ("operator_inferences_per_s", "operator_inferences_per_s_best",
                                            "operator_inferences_per_s_per_core"))
    one, pool = list(rates)
    assert one == "1 worker"
    workers = int(pool.split()[0])
    assert workers == quick_report["machine"]["cores"]
    assert all(best[k] >= rates[k] for k in rates)
    assert per_core[one] == rates[one] and per_core[pool] == pytest.approx(rates[pool] / workers)
    assert f["operator_pool_speedup"] == pytest.approx(rates[pool] / rates[one])
    assert list(f["operator_two_phase_inferences_per_s"]) == list(f["operator_cpu_ms_per_inference"]) == [one, pool]


def test_batch_gas_per_inference_falls_with_the_batch_size(quick_report: dict) -> None:
    g = quick_report["models"][0]["figures"]["batch_gas"]
    for name in ("single", "batch_1", "batch_10", "batch_100"):
        parts = sum(g[f"{name}_{p}"] for p in ("request", "result", "finalize"))
        assert parts <= g[name] <= parts + 2          # the sum of the parts, each rounded down on its own
    assert g["batch_100"] < g["batch_10"] < g["batch_1"]   # the fixed costs of a batch are shared
    assert g["batch_100_result"] < g["single_result"] / 3 and g["batch_100_finalize"] < g["single_finalize"] / 3
    assert abs(g["batch_100_request"] - g["single_request"]) < 1000   # requests are not batched (yet)


def test_batch_gas_measures_the_transactions_it_sends() -> None:
    """measure_batch_gas on a batch of 3 (a fresh chain, real VM runs): every figure, each in its range."""
    from optimist.bench.batches import measure_batch_gas
    from optimist.bench.run import BUNDLED_DIR, mdnn_for

    g = measure_batch_gas(mdnn_for(BUNDLED_DIR / f"{F.MNIST_MODEL}.onnx"), sizes=(3,))
    assert set(g) == {f"{n}{p}" for n in ("single", "batch_3") for p in ("", "_request", "_result", "_finalize")}
    assert g["batch_3_request"] == pytest.approx(g["single_request"], abs=1000)
    assert 21_000 < g["batch_3_result"] < g["single_result"] and 21_000 // 3 < g["batch_3_finalize"]


@pytest.mark.anvil
def test_entry_gas_measures_the_transactions_it_sends() -> None:
    """measure_entry_gas on request batches of 2 (a fresh anvil, real VM runs): every figure, blob gas exact."""
    from optimist.bench.batches import measure_entry_gas
    from optimist.bench.run import BUNDLED_DIR, mdnn_for

    g = measure_entry_gas(mdnn_for(BUNDLED_DIR / f"{F.MNIST_MODEL}.onnx"), sizes=(2,))
    parts = ("", "_request", "_result", "_finalize")
    assert set(g) == {f"{v}_2{p}" for v in ("calldata", "blobs") for p in parts} | {
        "blobs_2_blob_gas", "dispute_leaf", "dispute_result_leaf", "reject_entry", "open_game", "single_request",
        "single_result"}
    assert g["blobs_2_blob_gas"] == 131_072          # one blob for the inputs, one for the outputs, over 2
    assert g["blobs_2_request"] < g["calldata_2_request"] - 2 * 3136 * 4   # the inputs left the calldata
    assert g["calldata_2_finalize"] == g["blobs_2_finalize"]                # one O(1) call either way
    # a leaf's dispute writes the records today's path wrote before its game (an entry's request too), no more
    assert g["dispute_leaf"] > g["dispute_result_leaf"] > g["open_game"] > 100_000 and g["reject_entry"] > 21_000
    assert g["dispute_leaf"] < g["single_request"] + g["single_result"] + g["open_game"]


@pytest.mark.anvil
def test_whole_disputes_differ_only_in_their_opening() -> None:
    """measure_whole_disputes: the same lie disputed to its end posted alone, as a leaf of a batch of 3 results and
    as a leaf of an entry batch of 3. The game's moves and its one-step proof cost the same gas to the unit; only
    the opening differs (disputeLeaf: the leaf's inclusion proof and its record; an entry's request record too), by
    less than today's path to a game costs before it."""
    from optimist.bench.batches import measure_whole_disputes
    from optimist.bench.run import BUNDLED_DIR, mdnn_for

    g = measure_whole_disputes(mdnn_for(BUNDLED_DIR / f"{F.MNIST_MODEL}.onnx"), n=3, lie_at=1)
    single, leaf, entry = g["single"], g["leaf"], g["entry"]
    assert set(single) == {"openGame", "postMidpoint", "respond", "prove"}
    assert set(leaf) == set(entry) == {"disputeLeaf", "postMidpoint", "respond", "prove"}
    assert g["single_transactions"] == g["leaf_transactions"] == g["entry_transactions"] > 20   # 24 rounds of 2
    for f in ("postMidpoint", "respond", "prove"):
        assert single[f] == leaf[f] == entry[f], f
    extra = leaf["disputeLeaf"] - single["openGame"]
    assert g["leaf_total"] - g["single_total"] == extra
    assert 17_000 < extra < 100_000
    assert g["entry_total"] - g["single_total"] == entry["disputeLeaf"] - single["openGame"] > extra


@pytest.mark.anvil
def test_daemon_entries_measures_what_the_daemons_send() -> None:
    """measure_daemon_entries on request batches of 2: the operator daemon's postEntries in blobs (one blob for
    the outputs: blob gas exact) and in the calldata (dearer in execution gas), one O(1) finalizeEntries each."""
    from optimist.bench.batches import measure_daemon_entries
    from optimist.bench.run import BUNDLED_DIR, mdnn_for

    g = measure_daemon_entries(mdnn_for(BUNDLED_DIR / f"{F.MNIST_MODEL}.onnx"), n=2)
    assert set(g) == {"request", "request_blob_gas", "blobs_result", "blobs_blob_gas", "blobs_check_s",
                      "blobs_finalize", "calldata_result", "calldata_check_s", "calldata_finalize"}
    assert g["blobs_blob_gas"] == 131_072 // 2 and g["request_blob_gas"] == 131_072 // 2
    assert 21_000 // 2 < g["blobs_result"] < g["calldata_result"]
    assert g["blobs_finalize"] == g["calldata_finalize"] > 0 and g["blobs_check_s"] > 0


def test_quick_report_renders(quick_report: dict) -> None:
    text = R.markdown(quick_report)
    assert F.MNIST_MODEL in text and "MIPS" in text
    for field in F.MODEL_FIELDS:
        if field.key in quick_report["models"][0]["figures"]:
            assert field.label.strip() in text


@pytest.mark.parametrize(("field", "value", "ok"), [
    (F.Field("a", "a", "s", "vm"), 0.5, True),
    (F.Field("a", "a", "s", "vm"), 0.0, False),
    (F.Field("a", "a", "s", "vm"), float("nan"), False),
    (F.Field("a", "a", "s", "vm"), "n/a: x", False),
    (F.Field("a", "a", "", "vm", "int", 0, 10), 3, True),
    (F.Field("a", "a", "", "vm", "int", 0, 10), 3.0, False),
    (F.Field("a", "a", "", "vm", "int", 0, 10), 11, False),
    (F.Field("a", "a", "", "vm", "int", 0, 10), True, False),
    (F.Field("a", "a", "", "vm", "bool"), True, True),
    (F.Field("a", "a", "", "vm", "bool"), 1, False),
    (F.Field("a", "a", "B", "c", "dict", 0, 100), {"MIPS": 5}, True),
    (F.Field("a", "a", "B", "c", "dict", 0, 100), {}, False),
    (F.Field("a", "a", "B", "c", "dict", 0, 100), {"MIPS": 500}, False),
])
def test_check_value(field: F.Field, value: object, ok: bool) -> None:
    assert (F.check_value(field, value) is None) == ok


def test_replace_section_keeps_the_rest() -> None:
    text = f"intro\n{R.BEGIN}\nold\n{R.END}\noutro\n"
    out = R.replace_section(text, R.BEGIN, R.END, "new\n")
    assert out == f"intro\n{R.BEGIN}\nnew\n{R.END}\noutro\n"
    assert R.replace_section("intro\n", R.BEGIN, R.END, "t\n").endswith(f"{R.BEGIN}\nt\n{R.END}\n")


def test_every_field_has_a_stage_and_a_unique_key() -> None:
    keys = [f.key for f in (*F.MODEL_FIELDS, *F.SYSTEM_FIELDS)]
    assert len(keys) == len(set(keys))
    assert all(f.stage in F.STAGES for f in (*F.MODEL_FIELDS, *F.SYSTEM_FIELDS))


def test_merge_keeps_other_models_and_contract_figures() -> None:
    from optimist.bench.suite import merge_reports

    machine = {"commit": "abc", "load_average": [1.0, 2.0, 3.0]}
    old = {"mode": "full", "date": "d0", "machine": {"commit": "old"}, "system": {"figures": {"x": 1}},
           "models": [{"name": "a", "figures": {"vm_s": 1.0}}, {"name": "b", "figures": {"vm_s": 2.0}}]}
    new = {"mode": "full", "date": "d1", "machine": machine, "system": {"figures": {}},
           "models": [{"name": "b", "figures": {"vm_s": 3.0}}, {"name": "c", "figures": {"vm_s": 4.0}}]}
    merged = merge_reports(old, new)
    assert [m["name"] for m in merged["models"]] == ["a", "b", "c"]
    assert [m["figures"]["vm_s"] for m in merged["models"]] == [1.0, 3.0, 4.0]
    assert merged["system"] == old["system"] and merged["date"] == "d0"
    assert "measured" not in merged["models"][0] and "d1, commit abc" in merged["models"][2]["measured"]
    text = R.markdown({**merged, "machine": {**machine, "cpu": "cpu", "cores": 2, "memory_gib": 1, "os": "os",
                                             "python": "3", "unicorn": "2", "py-evm": "0"}})
    assert "c measured separately: d1, commit abc" in text


def test_generated_models_are_named_not_bundled() -> None:
    from optimist.bench.run import GENERATED, BenchUsageError, bundled_models, resolve_models

    assert "gpt2_small" in GENERATED and "gpt2_small" not in bundled_models()
    assert all(path.is_file() for path in GENERATED.values())
    with pytest.raises(BenchUsageError, match="gpt2_small"):
        resolve_models(("no_such_model",))


def test_merge_needs_update_docs() -> None:
    proc = subprocess.run([sys.executable, "-m", "optimist.cli", "bench", "--merge", "--models", "mlp_digits"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--merge only applies with --update-docs" in proc.stderr


def test_snapshot_estimate_bounds_the_measured_snapshots() -> None:
    """The gate before a checkpointed run (extrapolated from its first intervals) must not
    underestimate what the run then keeps, and the measured figure is what the dispute gate uses."""
    from optimist.bench import measure as M
    from optimist.bench.run import bundled_models, mdnn_for, model_input

    path = mdnn_for(bundled_models()["lenet_digits"])
    subject = M.Subject("lenet_digits", path, model_input(path), reps=1)
    for stage in (M.stage_model, M.stage_native, M.stage_vm):
        subject.figures.update(stage(subject))
    estimate = 3 * M._snapshot_estimate_bytes(subject) / 2**30
    assert M.snapshot_gib(subject) == estimate
    subject.figures.update(M.stage_vm_checkpointed(subject))
    assert subject.figures["checkpoints"] == -(-subject.figures["vm_steps"] // M.CHECKPOINT_INTERVAL) + 1  # + initial
    assert 0 < M.snapshot_gib(subject) <= estimate
    assert M.snapshot_gib(subject) == 3 * subject.figures["snapshot_mib"] / 1024


@pytest.mark.parametrize("content, why", [
    (b"root:x:0:0:root:/root:/bin/bash\n", "not JSON"),
    (b"\xd3\x00\xff", "cannot read it"),
    (b'{"mode": "full"}', "not a bench report"),
    (b"[1, 2]", "not a bench report"),
    (b'{"mode": "full", "date": "", "machine": {}, "models": [1]}', "not a list of {name, figures}"),
    (b'{"mode": "full", "date": "", "machine": {}, "models": []}', "no system figures"),
])
def test_from_json_refuses_what_is_not_a_report(tmp_path: Path, content: bytes, why: str) -> None:
    from click.testing import CliRunner

    from optimist.cli import main

    bad = tmp_path / "report.json"
    bad.write_bytes(content)
    result = CliRunner().invoke(main, ["bench", "--from-json", str(bad)])
    assert result.exit_code == 2, result.output
    assert why in result.output and "Traceback" not in result.output
def test_two_phase_stage_reports_its_figures(tmp_path: Path) -> None:
    """`optimist bench`'s two-phase stage on the MNIST MLP (anvil): every dispute_two_phase figure is a sane
    measurement and they agree with each other and with the model."""
    from optimist.bench import measure as M
    from optimist.bench.run import BUNDLED_DIR, mdnn_for, model_input

    path = mdnn_for(BUNDLED_DIR / f"{F.MNIST_MODEL}.onnx")
    subject = M.Subject(F.MNIST_MODEL, path, model_input(path), reps=2)
    figures = M.stage_dispute_two_phase(subject)
    fields = [f for f in F.MODEL_FIELDS if f.stage == "dispute_two_phase"]
    assert sorted(figures) == sorted(f.key for f in fields)
    problems = [why for f in fields if (why := F.check_value(f, figures[f.key]))]
    assert not problems, problems
    f = figures
    assert f["dispute_two_phase_phase1_rounds"] == 2          # 4 nodes: ceil(log2 4)
    assert f["dispute_two_phase_rounds"] == f["dispute_two_phase_phase1_rounds"] + f["dispute_two_phase_phase2_rounds"]
    assert abs(f["dispute_two_phase_phase2_rounds"] - math.log2(f["dispute_two_phase_node_steps"])) <= 1.5
    assert f["dispute_two_phase_node_share"] == pytest.approx(
        f["dispute_two_phase_node_steps"] / f["dispute_two_phase_model_steps"])
    assert f["dispute_two_phase_game_s"] < f["dispute_two_phase_s"]
    assert "node 2 (Gemm) disputed" in subject.notes["dispute_two_phase"]


def test_dispute_plot_shows_both_game_kinds(tmp_path: Path) -> None:
    """The dispute plot (docs/bench-disputes.png) draws a model measured by one game kind or both; nothing
    to draw without either figure."""
    report = {"models": [
        {"name": "a", "figures": {"parameters": 1000, "dispute_anvil_s": 2.0, "dispute_two_phase_s": 1.0}},
        {"name": "b", "figures": {"parameters": 10**7, "dispute_anvil_s": "n/a: too big",
                                  "dispute_two_phase_s": 20.0}},
    ]}
    assert R._points_by([report], "parameters", "dispute_two_phase_s") == [(1000.0, 1.0, "a"), (1e7, 20.0, "b")]
    assert R._points_by([report], "parameters", "dispute_anvil_s") == [(1000.0, 2.0, "a")]
    out = R.dispute_plot([report], tmp_path / "d.png")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert R.dispute_plot([{"models": [{"name": "c", "figures": {"parameters": 5}}]}], tmp_path / "e.png") is None
