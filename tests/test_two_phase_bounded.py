"""The work bound of one node (docs/two-phase.md §2a): a MatMul / Gemm with a constant weight of more
than the budget's multiply-accumulates is split into column blocks (each node holding only its weight
block) joined by Concat nodes; the node-by-node output is bit-exact with the unsplit model, every node
runs in the VM to its native tensor root, and the transitions into a block and into a Concat check."""

from __future__ import annotations

import numpy as np
import pytest
from test_minidnn_generation import T, V, causal_lm

import minidnn
from minidnn.format import KIND_CONSTANT, ModelBuilder, read_model
from minidnn.generation import encode_request, generation_model
from minidnn.nodes import MAX_CONCAT_INPUTS, MAX_NODE_MACS, split_model
from minidnn.phase1 import check_transition, commit, reference_input, run_trace, transition

BUDGET = 48


def dense_model() -> bytes:
    """Gemm (trans_b, 1-D bias, alpha/beta) -> Relu -> MatMul (34 columns: more than 32 blocks, a
    Concat tree) -> Gemm (2-D bias [1, N]) -> a MatMul under the budget (left alone)."""
    rng = np.random.default_rng(5)
    b = ModelBuilder().add_input("x", (2, 16))
    b.add_initializer("w0", rng.standard_normal((24, 16)).astype(np.float32))
    b.add_initializer("b0", rng.standard_normal(24).astype(np.float32))
    b.add_node("Gemm", ["x", "w0", "b0"], ["h"], trans_b=1, alpha=0.75, beta=1.5)
    b.add_node("Relu", ["h"], ["r"])
    b.add_initializer("w1", rng.standard_normal((24, 34)).astype(np.float32) * 0.3)
    b.add_node("MatMul", ["r", "w1"], ["m"])
    b.add_initializer("w2", rng.standard_normal((34, 6)).astype(np.float32) * 0.3)
    b.add_initializer("b2", rng.standard_normal((1, 6)).astype(np.float32))
    b.add_node("Gemm", ["m", "w2", "b2"], ["g"])
    b.add_initializer("w3", rng.standard_normal((6, 2)).astype(np.float32))
    b.add_node("MatMul", ["g", "w3"], ["y"])
    return b.set_output("y").to_bytes()


def _macs(node) -> int:
    """Multiply-accumulates of a split MatMul / Gemm node (from its sub-model)."""
    graph = read_model(node.blob)
    op = graph.nodes[-1]
    w = graph.tensors[op.inputs[1]]
    k = w.shape[1] if op.attrs.get("trans_b", 0) else w.shape[0]
    return int(np.prod(node.output_shape)) * k


@pytest.fixture(scope="module")
def split():
    return split_model(dense_model(), max_node_macs=BUDGET)


def test_big_weight_nodes_become_column_blocks_and_concats(split):
    ops = [n.op for n in split.nodes]
    # Gemm 2x16x24 (768 MACs): 24 one-column blocks (32 MACs each); MatMul 2x24x34: 34 one-column blocks
    # (48), two Concats of at most 32 inputs and one joining them; Gemm 2x34x6 (408): 6 blocks (68 > 48:
    # one column alone exceeds the budget); the last MatMul (24 MACs) is not split
    assert ops == ["Gemm"] * 24 + ["Concat", "Relu"] + ["MatMul"] * 34 + ["Concat"] * 3 + ["Gemm"] * 6 + \
        ["Concat", "MatMul"]
    for node in split.nodes:
        if node.op in ("Gemm", "MatMul") and node.index < split.node_count:
            assert _macs(node) <= max(BUDGET, 2 * 34)
            sub = read_model(node.blob)
            op = sub.nodes[-1]
            w = sub.tensors[op.inputs[1]]
            assert w.shape[0 if op.attrs.get("trans_b", 0) else 1] == 1     # only its own column
            constants = sum(t.size for t in sub.tensors.values() if t.kind == KIND_CONSTANT)
            assert constants <= w.size + 1                                  # and its bias element
        if node.op == "Concat":
            assert 2 <= len(node.args) <= MAX_CONCAT_INPUTS
    assert split.node(25).args == tuple(range(1, 25))
    assert split.nodes[-1].output == "y" and split.output_shape == (2, 2)


@pytest.mark.parametrize("fill", ["normal", "special"])
def test_split_output_is_bit_exact_with_the_unsplit_model(split, fill):
    whole = minidnn.Model.load(split.blob)
    x = np.random.default_rng(11).standard_normal((2, 16)).astype(np.float32) * 50
    if fill == "special":     # signed zeros, infinities, NaN, subnormals, overflow
        x.flat[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -3e38, 3e38]
    trace = run_trace(split, x)
    assert trace.output_bytes == whole.run(x).tobytes()
    # each block equals its columns of the unsplit node's output
    unsplit = split_model(split.blob, max_node_macs=1 << 30)
    full = run_trace(unsplit, x)
    assert trace.tensors[25] == full.tensors[1]                    # Concat of the 24 Gemm blocks == Gemm
    cols = np.frombuffer(full.tensors[1], "<f4").reshape(2, 24)
    assert trace.tensors[3] == np.ascontiguousarray(cols[:, 2:3]).tobytes()


def test_every_node_runs_in_the_vm_and_transitions_check(split):
    x = reference_input(split, seed=4)
    commitment = commit(split, x)            # every node in the VM == native; output == whole model
    trace = run_trace(split, x)
    concat = next(n.index for n in split.nodes if n.op == "Concat" and len(n.args) == MAX_CONCAT_INPUTS)
    for j in (2, concat, split.node_count):
        move, _ = transition(trace, commitment, j)
        got = check_transition(commitment.nodes_root, j, move.c_prev, move.c_next, move.spec, move.spec_proof,
                               move.arg_roots, move.arg_proofs, move.final_state, move.output_root,
                               move.output_path, move.slot_proof)
        assert got == move.initial_hash


def test_default_budget_splits_only_nodes_above_it():
    rng = np.random.default_rng(2)
    b = ModelBuilder().add_input("x", (1, 1024))
    b.add_initializer("w", (rng.standard_normal((1024, 2100)) * 0.03).astype(np.float32))   # 2.15M MACs
    b.add_node("MatMul", ["x", "w"], ["h"])
    b.add_initializer("v", (rng.standard_normal((2100, 10)) * 0.03).astype(np.float32))
    b.add_node("MatMul", ["h", "v"], ["y"])
    split = split_model(b.set_output("y").to_bytes())
    assert 1024 * 2100 > MAX_NODE_MACS
    assert [(n.op, n.output_shape) for n in split.nodes] == [
        ("MatMul", (1, 1050)), ("MatMul", (1, 1050)), ("Concat", (1, 2100)), ("MatMul", (1, 10))]
    x = reference_input(split, seed=1)
    assert run_trace(split, x).output_bytes == minidnn.Model.load(split.blob).run(x).tobytes()
    with pytest.raises(ValueError, match="max_node_macs"):
        split_model(split.blob, max_node_macs=0)


def test_generation_model_logits_split_and_unrolled_trace_is_the_generation():
    gen = generation_model(causal_lm())
    split = split_model(gen, max_node_macs=60)    # logits MatMul 1x6x5 @ 5x7 (210 MACs): 4 blocks
    ops = [n.op for n in split.nodes]
    assert ops == ["GenInit", "GenWindow", "Gather", "Add", "MatMul", "Tanh"] + ["MatMul"] * 4 + \
        ["Concat", "GenSelect", "Slice"]
    assert split.period == len(ops) - 2
    for prompt, k, temp, seed in (([1, 2], 4, 0.0, 0), ([6, 6, 0], T, 0.9, 12345)):
        request = encode_request(prompt, k, T, V, temp, seed)
        trace = run_trace(split, request)
        assert trace.output_bytes == minidnn.Model.load(gen).run(request).astype("<i4").tobytes()


def test_dispute_at_a_32_input_concat_is_won_by_the_challenger():
    """eth-tester, the real daemons: the lie at the Concat of 32 blocks; enterNode carries 32 arg proofs."""
    from challenger.graph_games import GraphModel
    from optimist.bench.two_phase import measure_two_phase_dispute

    model = GraphModel(dense_model(), max_node_macs=BUDGET)
    concat = next(n.index for n in model.split.nodes if n.op == "Concat" and len(n.args) == MAX_CONCAT_INPUTS)
    x = reference_input(model.split, seed=2).tobytes()
    d = measure_two_phase_dispute(model, x, "eth-tester", node=concat)     # raises unless the challenger won
    assert (d.node, d.node_op, d.nodes) == (concat, "Concat", model.node_count)
    assert d.phase2_rounds >= 1 and 300_000 < d.enter_gas < 3_000_000


def test_trace_checks_its_input_without_loading_the_whole_model():
    """A serving daemon's trace never loads the whole model natively (GPT-2 small: 650 MB); a wrong
    input is still a clear InputError."""
    from minidnn.native import InputError

    split = split_model(dense_model(), max_node_macs=BUDGET)
    x = reference_input(split, seed=1)
    trace = run_trace(split, x.ravel())                       # a flat array of the right size is reshaped
    assert not split._native and trace.tensors[0] == x.astype("<f4").tobytes()
    with pytest.raises(InputError, match="does not match the model input"):
        run_trace(split, np.zeros((3, 16), np.float32))
