"""Two-phase games of generation models, native side (docs/two-phase.md §10): the template split
(GenInit, GenWindow, the forward's nodes, GenSelect, the response), its unrolling to a k-token
request, the unrolled trace against the single-run generation, node VM runs of later tokens, and
the transition checks with the template index and slot shift."""

from __future__ import annotations

import numpy as np
import pytest
from test_minidnn_generation import T, V, causal_lm

import minidnn
from minidnn.generation import encode_request, generation_model
from minidnn.native import InputError, ModelError
from minidnn.nodes import split_model, unrolled_position
from minidnn.phase1 import (
    NodeFailed,
    TransitionError,
    check_transition,
    commit,
    reference_input,
    run_node_vm,
    run_trace,
    transition,
)

GEN = generation_model(causal_lm())
REQUESTS = [([1, 2], 4, 0.0, 0), ([6, 6, 0], T, 0.9, 12345), ([3] * T, 3, 2.5, 7), ([5], 1, 0.0, 0),
            ([4, 1, 2, 3, 0], 5, 1.3, 0xFFFFFFFF)]


@pytest.fixture(scope="module")
def split():
    return split_model(GEN)


@pytest.fixture(scope="module")
def commitment(split):
    return commit(split)


def test_template_layout(split):
    """Node 1 GenInit(slot 0), node 2 GenWindow(S_0), the forward (5 nodes), GenSelect(logits, S_0),
    the response sliced from S_1: c = m + 4 nodes, period P = m + 2."""
    ops = [n.op for n in split.nodes]
    assert ops == ["GenInit", "GenWindow", "Gather", "Add", "MatMul", "Tanh", "MatMul", "GenSelect", "Slice"]
    assert [n.args for n in split.nodes] == [(0,), (1,), (2,), (3,), (4,), (5,), (6,), (7, 1), (8,)]
    assert (split.period, split.template_count, split.tokens) == (7, 9, 1)
    assert split.input_shape == (4 + T,) and split.output_shape == (T,)


def test_unrolled_positions(split):
    """Token t's nodes are template nodes 2..P+1 with every arg + t P; the last node is template node c."""
    p, c = split.period, split.template_count
    u = split.unroll(3)
    assert u.node_count == c + 2 * p == 23 and u.tokens == 3
    assert [unrolled_position(j, c, p, 23) for j in (1, 2, 8, 9, 15, 16, 22, 23)] == \
        [(1, 0), (2, 0), (8, 0), (2, 7), (8, 7), (2, 14), (8, 14), (9, 14)]
    assert u.node(16).op == "GenWindow" and u.node(16).args == (15,)       # reads S_2 (token 1's select)
    assert u.node(22).op == "GenSelect" and u.node(22).args == (21, 15)
    assert u.node(23).op == "Slice" and u.node(23).args == (22,)
    assert unrolled_position(5, 5, 0, 5) == (5, 0)
    with pytest.raises(InputError, match="BAD_REQUEST"):
        split.unroll(T + 1)
    with pytest.raises(InputError, match="BAD_REQUEST"):
        split.unroll(0)


@pytest.mark.parametrize("prompt, k, temp, seed", REQUESTS)
def test_unrolled_trace_is_the_generation_bit_for_bit(split, prompt, k, temp, seed):
    """Greedy and sampled, prompts filling the context, n + k > T (the window slides)."""
    request = encode_request(prompt, k, T, V, temp, seed)
    trace = run_trace(split, request)
    assert trace.split.node_count == split.template_count + (k - 1) * split.period
    assert trace.output_bytes == minidnn.Model.load(GEN).run(request).astype("<i4").tobytes()


def test_bad_requests_are_clear_errors(split):
    """k outside 1..T is refused before anything runs (the contract refuses such a request too); a
    request the generation loop refuses (n = 0, a prompt id >= V, a bad temperature) fails at its node,
    which the two-phase game answers as a Failure outcome (docs/two-phase.md §3a)."""
    with pytest.raises(InputError, match="BAD_REQUEST"):
        run_trace(split, np.array([1, 0, 0, 0] + [1] * T, np.int32))        # k = 0: nothing to unroll
    with pytest.raises(NodeFailed) as failed:
        run_trace(split, np.array([0, 1, 0, 0] + [1] * T, np.int32))        # n = 0: GenInit refuses it
    assert failed.value.node == 1 and isinstance(failed.value.error, InputError)
    assert "BAD_REQUEST" in str(failed.value.error) and len(failed.value.trace.commitments) == 1
    with pytest.raises(NodeFailed) as failed:
        run_trace(split, np.array([2, 1, 0, 0, 1, V] + [0] * (T - 2), np.int32))   # a prompt id >= V
    assert isinstance(failed.value.error, ModelError) and "INDEX" in str(failed.value.error)
    for temp_bits in (0x80000000, 0xBF800000, 0x7F800000, 0x7FC00000):       # -0.0, -1.0, inf, NaN
        request = np.array([1, 1, temp_bits, 0] + [1] * T, np.uint32).view(np.int32)
        with pytest.raises(NodeFailed) as failed:
            run_trace(split, request)
        assert failed.value.node == 1 and "BAD_REQUEST" in str(failed.value.error)
        with pytest.raises(InputError, match="BAD_REQUEST"):
            minidnn.Model.load(GEN).run(request)                          # the same refusal as one run
    with pytest.raises(InputError):
        split.for_input(b"\0" * 8)


def test_later_tokens_nodes_run_in_the_vm_to_the_native_roots(split, commitment):
    """Every template node was measured in the VM (commit); token k-1's window, a forward node and the
    sampled select, and the response node, end in the VM at the native tensor roots."""
    assert commitment.node_count == split.template_count and commitment.period == split.period
    assert reference_input(split).tolist()[:4] == [1, 1, 0x3F800000, 0]
    trace = run_trace(split, encode_request([6, 6, 0], T, T, V, 0.9, 12345))
    m = trace.split.node_count
    last = 2 + (trace.split.tokens - 1) * split.period
    for j in (last, last + 3, last + split.period - 1, m):
        final, image = run_node_vm(trace, j)
        assert final.step <= commitment.spec(trace.split.position(j)[0]).max_steps


def _check(commitment, trace, move, **changes):
    args = dict(j=move.j, c_prev=move.c_prev, c_next=move.c_next, spec=move.spec, spec_proof=move.spec_proof,
                arg_roots=move.arg_roots, arg_proofs=move.arg_proofs, final_state=move.final_state,
                output_root=move.output_root, output_path=move.output_path, slot_proof=move.slot_proof)
    shape = dict(node_count=commitment.node_count, period=commitment.period, steps=trace.split.node_count)
    shape.update({k: changes.pop(k) for k in list(changes) if k in shape})
    args.update(changes)
    return check_transition(commitment.nodes_root, args.pop("j"), args.pop("c_prev"), args.pop("c_next"),
                            **args, **shape)


def test_transitions_at_token_1_and_token_k_pass_and_liars_fail(split, commitment):
    k = 4
    trace = run_trace(split, encode_request([1, 2], k, T, V, 0.0, 0))
    p = split.period
    token_k = [2 + (k - 1) * p + i for i in range(p)] + [trace.split.node_count]
    for j in [1, 2, 3, 2 + p - 1, *token_k]:
        move, _ = transition(trace, commitment, j)
        assert _check(commitment, trace, move) == move.initial_hash
    move, _ = transition(trace, commitment, token_k[-2])          # token k's GenSelect
    jt = trace.split.position(move.j)[0]
    assert jt == p + 1 and move.spec == commitment.spec(jt)
    # the descriptor of another template position, or the template's unshifted arg slots
    other, _ = transition(trace, commitment, token_k[1])
    with pytest.raises(TransitionError) as err:
        _check(commitment, trace, move, spec=other.spec, spec_proof=other.spec_proof)
    assert err.value.reason == "SpecProofMismatch"
    early, _ = transition(trace, commitment, p + 1)               # token 1's GenSelect: same template node
    with pytest.raises(TransitionError) as err:
        _check(commitment, trace, move, arg_roots=early.arg_roots, arg_proofs=early.arg_proofs)
    assert err.value.reason == "ArgProofMismatch"
    # a game whose unrolled length differs from the request's maps the last node to another template node
    response, _ = transition(trace, commitment, trace.split.node_count)
    with pytest.raises(TransitionError) as err:
        _check(commitment, trace, response, steps=trace.split.node_count + p)
    assert err.value.reason == "SpecProofMismatch"
    # read as a single-pass model (no shift), the template's arg slots are not node j's inputs
    with pytest.raises(TransitionError):
        _check(commitment, trace, move, period=0)


def test_shakespeare_gpt_unrolls_to_its_generation():
    """The converted character GPT as a generation model: 2 tokens of the unrolled trace are
    Model.generate's, bit for bit."""
    from pathlib import Path

    from converter import convert

    blob = generation_model(convert(Path(__file__).resolve().parent.parent / "examples" / "models" /
                                    "gpt_shakespeare_small.onnx").mdnn)
    split = split_model(blob)
    model = minidnn.Model.load(blob)
    t, v = model.context, model.vocab
    request = encode_request([5, 9, 13], 2, t, v, 0.8, 3)
    trace = run_trace(split, request)
    assert trace.split.node_count == split.template_count + split.period
    assert trace.output_bytes == model.run(request).astype("<i4").tobytes()
