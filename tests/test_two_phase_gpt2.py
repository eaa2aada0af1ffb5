"""A two-phase dispute of one GPT-2 small token (124M parameters; docs/two-phase.md, issue #17), slow:
only with `-m slow` and only when examples/gpt2_small.py's model was built (build/models/, ~650 MB,
never committed). Every node image fits the VM's model region; the game stays within the issue's
round and gas bounds (the time and memory figures are measured by optimist.bench.two_phase)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mipsvm import layout

MODELS = Path(__file__).resolve().parents[1] / "build" / "models"


def _built_gpt2() -> Path | None:
    """The built GPT-2 small .mdnn of the current format, if any."""
    from minidnn.native import MinidnnError, Model

    for path in sorted(MODELS.glob("gpt2_v50257_l12_d768_h12_c64_t1_*.mdnn")):
        try:
            Model.load(path)
        except (MinidnnError, OSError):
            continue
        return path
    return None


@pytest.mark.slow
def test_gpt2_small_one_token_two_phase_dispute() -> None:
    path = _built_gpt2()
    if path is None:
        pytest.skip("GPT-2 small not built: run examples/gpt2_small.py")
    from challenger.graph_games import GraphModel
    from minidnn.phase1 import reference_input
    from optimist.bench.two_phase import measure_two_phase_dispute

    model = GraphModel(path)
    assert all(len(n.blob) <= layout.MODEL_END - layout.MODEL_BASE for n in model.split.nodes)
    # the head (768 x 50257) and the MLP matrices are split into column blocks (docs/two-phase.md §2a):
    # no node runs longer than the budget's ~2**21 x 137 steps (unsplit, the head ran 4,958M steps)
    assert model.node_count == 601 and max(model.commitment.steps) < 2**21 * 137
    figures = measure_two_phase_dispute(model, reference_input(model.split, seed=1).tobytes(), "eth-tester")
    assert figures.phase1_rounds + figures.phase2_rounds <= 50
    assert figures.prove_gas <= 150_000
    # the game moves stay under 3M a side; the operator's postResult of the 201 KB logits row (~8M gas of
    # calldata, an issue #17 miss documented in docs/two-phase.md §8) is not a game move
    assert figures.operator_gas - figures.post_gas <= 3_000_000 and figures.challenger_gas <= 3_000_000


@pytest.mark.slow
def test_gpt2_small_one_token_generation_dispute_stays_within_the_gas_bounds() -> None:
    """A k = 1 generation request (the product: one new id) posts 4 bytes, so both sides stay under 3M gas."""
    path = _built_gpt2()
    if path is None:
        pytest.skip("GPT-2 small not built: run examples/gpt2_small.py")
    from challenger.graph_games import GraphModel
    from minidnn.generation import generation_model
    from minidnn.phase1 import reference_input
    from optimist.bench.two_phase import measure_two_phase_dispute

    model = GraphModel(generation_model(path.read_bytes()))
    x = reference_input(model.split, seed=1).tobytes()            # n = 1, k = 1, temperature 1
    steps = model.commitment.steps
    head_block = max(range(len(steps)), key=steps.__getitem__) + 1
    figures = measure_two_phase_dispute(model, x, "eth-tester", node=head_block)
    assert figures.phase1_rounds + figures.phase2_rounds <= 50 and figures.prove_gas <= 150_000
    assert figures.operator_gas <= 3_000_000 and figures.challenger_gas <= 3_000_000
