"""Two-phase dispute, native side (docs/two-phase.md): node sub-models run in the VM to the native
tensor roots, the C_j chain, descriptors and nodesRoot, transition data, and every liar case of
the transition checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from eth_abi import decode
from graph_world import gather_model

from minidnn.format import DTYPE_I32, ModelBuilder
from minidnn.image import run_vm
from minidnn.native import ModelError, infer
from minidnn.nodes import (
    NODE_SPEC_ABI,
    SLOT_DEPTH,
    NodeSpec,
    SlotTree,
    SplitError,
    lift,
    next_pow2,
    slot_climb,
    split_model,
    tensor_root,
)
from minidnn.phase1 import (
    TransitionError,
    check_transition,
    commit,
    input_commitment,
    input_root,
    node_vm_state,
    reference_input,
    run_node_vm,
    run_trace,
    transition,
)
from mipsvm import layout
from mipsvm.memory import keccak256, zero_hash
from mipsvm.regions import climb, region_level, region_root
from mipsvm.state import STATE_FORMAT, decode_state

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"


def multi_input_model() -> bytes:
    """Residual Add, a 3-way Concat of different sizes (lifting, a zero position), Mul(x, x) (one
    arg read twice), a Concat of non-flat tensors (Reshape after the slices)."""
    rng = np.random.default_rng(3)
    b = ModelBuilder().add_input("x", (1, 16))
    b.add_initializer("w0", rng.standard_normal((24, 16)).astype(np.float32) * 0.3)
    b.add_initializer("b0", rng.standard_normal(24).astype(np.float32) * 0.1)
    b.add_node("Gemm", ["x", "w0", "b0"], ["h"], trans_b=1).add_node("Relu", ["h"], ["r"])
    b.add_node("Mul", ["x", "x"], ["sq"])
    b.add_node("Concat", ["r", "x", "sq"], ["c"], axis=1)                     # (1, 56)
    b.add_initializer("w1", rng.standard_normal((16, 56)).astype(np.float32) * 0.2)
    b.add_initializer("b1", rng.standard_normal(16).astype(np.float32) * 0.1)
    b.add_node("Gemm", ["c", "w1", "b1"], ["g"], trans_b=1)
    b.add_node("Add", ["g", "x"], ["a"])                                       # residual
    b.add_node("Reshape", ["a"], ["t"], shapes=[(2, 8)])
    b.add_node("Reshape", ["r"], ["u"], shapes=[(3, 8)])
    b.add_node("Concat", ["t", "u"], ["tu"], axis=0)                           # (5, 8)
    b.add_node("Flatten", ["tu"], ["f"], axis=0)
    b.add_node("Softmax", ["f"], ["y"])
    return b.set_output("y").to_bytes()


def early_output_model() -> bytes:
    """The graph output is produced before the last node (the splitter appends an Identity)."""
    b = ModelBuilder().add_input("x", (2, 3))
    b.add_node("Relu", ["x"], ["r"]).add_node("Tanh", ["r"], ["unused"])
    return b.set_output("r").to_bytes()


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    from converter import convert

    return {"mlp_digits": convert(MODELS / "mlp_digits.onnx").mdnn,
            "lenet_digits": convert(MODELS / "lenet_digits.onnx").mdnn,
            "multi_input": multi_input_model()}


@pytest.fixture(scope="module")
def played(models):
    """name -> (split, trace, commitment) on a seeded input (commit runs every node in the VM)."""
    out = {}
    for name, blob in models.items():
        split = split_model(blob)
        x = reference_input(split, seed=7)
        out[name] = (split, run_trace(split, x), commit(split, x), x)
    return out


MODEL_NAMES = ["mlp_digits", "lenet_digits", "multi_input"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_node_vm_run_exits_0_with_the_native_tensor_root(played, name):
    split, trace, commitment, _ = played[name]
    for node in split.nodes:
        final, image = run_node_vm(trace, node.index)   # raises NodeRunError on any mismatch
        assert final.exited and final.exit_code == 0
        assert final.memory.subtree_root(image.output_base, image.output_size) == trace.roots[node.index]
        assert final.memory.read(image.output_base, node.output_nbytes) == trace.tensors[node.index]
        assert final.step == commitment.steps[node.index - 1] < commitment.spec(node.index).max_steps


def test_multi_input_split_has_the_node_kinds_under_test(played):
    split = played["multi_input"][0]
    assert [(n.op, n.args) for n in split.nodes] == [
        ("Gemm", (0,)), ("Relu", (1,)), ("Mul", (0,)), ("Concat", (2, 0, 3)), ("Gemm", (4,)),
        ("Add", (5, 0)), ("Reshape", (6,)), ("Reshape", (2,)), ("Concat", (7, 8)), ("Flatten", (9,)),
        ("Softmax", (10,))]
    three = split.node(4)
    assert three.args == (2, 0, 3) and three.arg_sizes == (128, 64, 64)
    assert three.arg_size == 128 and three.input_size == 512


def test_reference_stepper_agrees_on_a_small_node(played):
    split, trace, _, _ = played["mlp_digits"]
    j = min(range(1, split.node_count + 1), key=lambda i: played["mlp_digits"][2].steps[i - 1])
    fast, _ = run_node_vm(trace, j)
    slow, _ = run_node_vm(trace, j, engine="stepper")
    assert slow.hash() == fast.hash() and slow.step == fast.step


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_commitments_chain(played, models, name):
    split, trace, _, x = played[name]
    m = split.node_count
    assert trace.tensors[0] == np.asarray(x, "<f4").tobytes()
    assert trace.commitments[0] == input_commitment(trace.tensors[0])
    assert np.array_equal(trace.output, infer(models[name], x))
    for j in range(m + 1):
        table = b"".join(trace.roots[: j + 1])
        assert trace.commitments[j] == region_root(table, 32 << SLOT_DEPTH)
        assert trace.roots[j] == tensor_root(trace.tensors[j])
    for j in range(1, m + 1):
        proof = trace.slot_proof(j, j - 1)
        assert proof == trace.slot_proof(j, j)
        assert slot_climb(bytes(32), j, proof) == trace.commitments[j - 1]
        assert slot_climb(trace.roots[j], j, proof) == trace.commitments[j]
        assert trace.commitments[j] != trace.commitments[j - 1]
    assert slot_climb(tensor_root(trace.output_bytes), m, trace.output_proof()) == trace.commitments[m]


def test_whole_model_vm_output_region_is_the_last_slot(played, models):
    split, trace, _, x = played["mlp_digits"]
    result = run_vm(models["mlp_digits"], x)
    out = result.state.memory.subtree_root(layout.OUTPUT_BASE, layout.region_size(split.output_nbytes))
    assert out == trace.roots[-1]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_descriptors_and_nodes_root(played, name):
    split, _, commitment, _ = played[name]
    leaves = [bytes(32)] + [spec.hash() for spec in commitment.specs]
    assert commitment.nodes_root == region_root(b"".join(leaves), 32 << SLOT_DEPTH)
    assert commitment.input_length == split.input_nbytes and commitment.output_length == split.output_nbytes
    for j, spec in enumerate(commitment.specs, 1):
        node = split.node(j)
        assert spec.args == node.args and all(s < j for s in spec.args)
        assert spec.arg_size == max(spec.arg_sizes) and spec.input_size == spec.arg_size * next_pow2(len(spec.args))
        assert len(spec.input_path) == 27 - region_level(spec.input_base, spec.input_size)
        zero = zero_hash(region_level(spec.input_base, spec.input_size))
        assert climb(zero, spec.input_base, spec.input_size, list(spec.input_path)) == spec.image_root
        encoded = spec.encode()
        assert NodeSpec.from_tuple(decode([NODE_SPEC_ABI], encoded)[0]) == spec
        assert int.from_bytes(encoded[:32], "big") == 32 and spec.hash() == keccak256(encoded)
        assert slot_climb(spec.hash(), j, commitment.spec_proof(j)) == commitment.nodes_root


def test_input_root_from_arg_roots_is_the_laid_out_region(played):
    split, trace, _, _ = played["multi_input"]
    for node in split.nodes:
        args = trace.args(node.index)
        roots = [trace.roots[s] for s in node.args]
        expected = region_root(node.input_region(args), node.input_size)
        assert input_root(roots, node.arg_sizes, node.arg_size) == expected
    assert lift(tensor_root(b"\1" * 40), 64, 256) == region_root(b"\1" * 40, 256)


@pytest.mark.parametrize("n", [0, 4, 31, 32, 33, 128, 129, 1000, 3072, 4100, 201_028])
def test_tensor_root_is_the_region_root(n):
    """tensor_root hashes natively a level at a time (odd levels padded with zero subtrees)."""
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert tensor_root(data) == region_root(data, layout.region_size(n))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_transition_data_passes_the_checks_for_every_node(played, name):
    split, trace, commitment, _ = played[name]
    for j in range(1, split.node_count + 1):
        move, final = transition(trace, commitment, j)
        args = move.contract_args()
        assert args[0] == j and len(args) == 9
        initial = check_transition(commitment.nodes_root, j, trace.commitments[j - 1], trace.commitments[j],
                                   move.spec, move.spec_proof, move.arg_roots, move.arg_proofs,
                                   move.final_state, move.output_root, move.output_path, move.slot_proof)
        node = split.node(j)
        start = node_vm_state(node, node.image(), trace.args(j))
        assert initial == move.initial_hash == start.hash()
        assert keccak256(move.final_state) == final.hash() and move.steps == final.step >= 1


def test_transition_from_a_given_final_state_equals_the_run_and_rejects_a_wrong_one(played):
    """transition(..., final=S): the daemons pass the final state of their own node run (no second run)."""
    from minidnn.phase1 import NodeRunError

    split, trace, commitment, _ = played["mlp_digits"]
    j = split.node_count
    move, final = transition(trace, commitment, j)
    again, same = transition(trace, commitment, j, final=final)
    assert again == move and same is final
    spec = commitment.spec(j)
    wrong = final.copy()
    wrong.memory.write(spec.output_base, bytes([final.memory.read(spec.output_base, 1)[0] ^ 1]))
    with pytest.raises(NodeRunError, match="not a clean exit with the native output root"):
        transition(trace, commitment, j, final=wrong)
    failed = final.copy()
    failed.exit_code = 1
    with pytest.raises(NodeRunError):
        transition(trace, commitment, j, final=failed)


def _check(commitment, trace, j, move, **override):
    fields = {"spec": move.spec, "spec_proof": move.spec_proof, "arg_roots": move.arg_roots,
              "arg_proofs": move.arg_proofs, "final_state": move.final_state, "output_root": move.output_root,
              "output_path": move.output_path, "slot_proof": move.slot_proof,
              "c_prev": trace.commitments[j - 1], "c_next": trace.commitments[j], "j": j,
              "nodes_root": commitment.nodes_root}
    fields.update(override)
    return check_transition(fields["nodes_root"], fields["j"], fields["c_prev"], fields["c_next"],
                            fields["spec"], fields["spec_proof"], fields["arg_roots"], fields["arg_proofs"],
                            fields["final_state"], fields["output_root"], fields["output_path"],
                            fields["slot_proof"])


def _repack(packed: bytes, **changes) -> bytes:
    s = decode_state(packed)
    s.update(changes)
    return STATE_FORMAT.pack(s["mem_root"], s["pc"], s["next_pc"], s["lo"], s["hi"], s["exit_code"],
                             int(s["exited"]), s["step"], *s["regs"])


@pytest.fixture(scope="module")
def moves(played):
    split, trace, commitment, _ = played["multi_input"]
    return {j: transition(trace, commitment, j)[0] for j in (4, 6, 9)}


def test_liar_wrong_arg_root(played, moves):
    _, trace, commitment, _ = played["multi_input"]
    move = moves[6]                                   # Add(g, x): args (5, 0)
    wrong = (trace.roots[4],) + move.arg_roots[1:]    # another slot's true root
    with pytest.raises(TransitionError) as err:
        _check(commitment, trace, 6, move, arg_roots=wrong)
    assert err.value.reason == "ArgProofMismatch"
    swapped = (move.arg_roots[1], move.arg_roots[0])
    with pytest.raises(TransitionError, match="ArgProofMismatch"):
        _check(commitment, trace, 6, move, arg_roots=swapped, arg_proofs=(move.arg_proofs[1], move.arg_proofs[0]))
    # a true root with its true proof, but for a different slot than the descriptor names
    with pytest.raises(TransitionError, match="ArgProofMismatch"):
        _check(commitment, trace, 6, move, arg_roots=(trace.roots[4], move.arg_roots[1]),
               arg_proofs=(tuple(trace.slot_proof(4, 5)), move.arg_proofs[1]))
    # a descriptor that reads another slot is not the registered one
    with pytest.raises(TransitionError, match="SpecProofMismatch"):
        _check(commitment, trace, 6, move, spec=replace(move.spec, args=(4, 0)))
    with pytest.raises(TransitionError, match="BadArgs"):
        _check(commitment, trace, 6, move, arg_roots=move.arg_roots[:1])


def test_liar_wrong_descriptor(played, moves):
    _, trace, commitment, _ = played["multi_input"]
    move = moves[6]
    other = commitment.spec(9)
    with pytest.raises(TransitionError, match="SpecProofMismatch"):   # node 9's descriptor at index 6
        _check(commitment, trace, 6, move, spec=other)
    with pytest.raises(TransitionError, match="SpecProofMismatch"):   # with node 9's proof too
        _check(commitment, trace, 6, move, spec=other, spec_proof=tuple(commitment.spec_proof(9)))
    for field, value in [("max_steps", move.spec.max_steps * 2), ("image_root", bytes(32)),
                         ("arg_sizes", (128, 64)), ("output_size", move.spec.output_size * 2)]:
        with pytest.raises(TransitionError, match="SpecProofMismatch"):
            _check(commitment, trace, 6, move, spec=replace(move.spec, **{field: value}))


def test_liar_output_root_not_matching_c_j(played, moves):
    _, trace, commitment, _ = played["multi_input"]
    move = moves[6]
    with pytest.raises(TransitionError) as err:
        _check(commitment, trace, 6, move, output_root=trace.roots[5])
    assert err.value.reason == "OutputSlotMismatch"
    # a C_j claim that differs from the true one: the true node output cannot match it
    liar_tree = trace.tree(6).copy()
    liar_tree.set(6, keccak256(b"lie"))
    with pytest.raises(TransitionError, match="OutputSlotMismatch"):
        _check(commitment, trace, 6, move, c_next=liar_tree.root)
    # the liar's own root at slot j passes slot check 3 but not the final memory (check 4)
    with pytest.raises(TransitionError, match="OutputProofMismatch"):
        _check(commitment, trace, 6, move, c_next=liar_tree.root, output_root=keccak256(b"lie"))
    # mismatched slot index: the true output placed at slot j + 1 of C_j
    shifted = trace.tree(5).copy()
    shifted.set(7, trace.roots[6])
    with pytest.raises(TransitionError, match="OutputSlotMismatch"):
        _check(commitment, trace, 6, move, c_next=shifted.root)


def test_liar_final_state_not_exited_or_out_of_range(played, moves):
    _, trace, commitment, _ = played["multi_input"]
    move = moves[9]
    # a state that is no clean exit claims a failed node: C_j (a slot root here) is no failure hash,
    # and a state still running must be at exactly maxSteps
    cases = {"FailureMismatch": [_repack(move.final_state, exit_code=3),
                                 _repack(move.final_state, exited=False, step=move.spec.max_steps)],
             "StepsOutOfRange": [_repack(move.final_state, exited=False),
                                 _repack(move.final_state, exit_code=3, step=move.spec.max_steps + 1),
                                 _repack(move.final_state, step=0),
                                 _repack(move.final_state, step=move.spec.max_steps + 1)],
             "BadFinalState": [move.final_state[:-1]],
             "OutputProofMismatch": [_repack(move.final_state, mem_root=keccak256(b"other memory"))]}
    for reason, states in cases.items():
        for state in states:
            with pytest.raises(TransitionError) as err:
                _check(commitment, trace, 9, move, final_state=state)
            assert err.value.reason == reason
    bad_path = (keccak256(b"x"),) + move.output_path[1:]
    with pytest.raises(TransitionError, match="OutputProofMismatch"):
        _check(commitment, trace, 9, move, output_path=bad_path)
    with pytest.raises(TransitionError, match="BadRegion"):
        _check(commitment, trace, 9, move, output_path=move.output_path[1:])


def test_liar_non_empty_slot(played, moves):
    _, trace, commitment, _ = played["multi_input"]
    move = moves[4]
    # a C_{j-1} whose slot j already holds something, and C_j = it with slot j replaced
    prev = trace.tree(3).copy()
    prev.set(4, keccak256(b"squatter"))
    nxt = prev.copy()
    nxt.set(4, move.output_root)
    proof = tuple(prev.proof(4))
    assert proof == tuple(nxt.proof(4))
    arg_proofs = tuple(tuple(prev.proof(s)) for s in move.spec.args)
    with pytest.raises(TransitionError) as err:
        _check(commitment, trace, 4, move, c_prev=prev.root, c_next=nxt.root, slot_proof=proof,
               arg_proofs=arg_proofs)
    assert err.value.reason == "SlotNotEmpty"
    with pytest.raises(TransitionError, match="SlotNotEmpty"):
        _check(commitment, trace, 4, move, slot_proof=tuple(trace.slot_proof(3, 3)))
    with pytest.raises(TransitionError, match="BadNode"):
        _check(commitment, trace, 0, move)


def test_identity_is_appended_when_the_output_comes_early():
    blob = early_output_model()
    split = split_model(blob)
    assert [n.op for n in split.nodes] == ["Relu", "Tanh", "Identity"]
    assert split.node(3).args == (1,)
    x = reference_input(split)
    trace = run_trace(split, x)
    assert np.array_equal(trace.output, infer(blob, x))
    final, _ = run_node_vm(trace, 3)
    assert final.exit_code == 0


def test_unsupported_graphs_are_clear_errors():
    b = ModelBuilder().add_input("ids", (1, 4), dtype=DTYPE_I32)
    b.add_initializer("emb", np.ones((8, 5), np.float32))
    b.add_node("Relu", ["emb"], ["e"])                              # constants only
    b.add_node("Gather", ["e", "ids"], ["g"], axis=0)               # int32 ids + another value
    with pytest.raises(SplitError, match="no run-time input"):
        split_model(b.set_output("g").to_bytes())
    b = ModelBuilder().add_input("ids", (1, 4), dtype=DTYPE_I32)
    b.add_initializer("emb", np.ones((8, 5), np.float32))
    b.add_node("Gather", ["emb", "ids"], ["g0"], axis=0)            # (1, 4, 5)
    b.add_node("Reshape", ["g0"], ["g1"], shapes=[(20, 1)])
    b.add_node("Gather", ["g1", "ids"], ["g"], axis=0)
    with pytest.raises(SplitError, match="int32"):
        split_model(b.set_output("g").to_bytes())
    with pytest.raises(ModelError):
        split_model(b"MDNN not a model")


def test_slot_tree_matches_region_root():
    tree = SlotTree()
    values = {0: keccak256(b"a"), 5: keccak256(b"b"), 65535: keccak256(b"c")}
    for slot, v in values.items():
        tree.set(slot, v)
    table = bytearray(32 << SLOT_DEPTH)
    for slot, v in values.items():
        table[32 * slot:32 * slot + 32] = v
    assert tree.root == region_root(bytes(table), 32 << SLOT_DEPTH)
    for slot in (0, 5, 6, 65535):
        assert slot_climb(tree.get(slot), slot, tree.proof(slot)) == tree.root
    with pytest.raises(ValueError):
        tree.set(1 << SLOT_DEPTH, bytes(32))


def test_bench_reports_nodes_times_and_steps(models):
    from minidnn.phase1 import bench

    report = bench(models["mlp_digits"], repeat=2)
    assert report["nodes"] == 4 and len(report["node_steps"]) == 4
    assert report["largest_node_steps"] == max(report["node_steps"])
    assert report["largest_node_op"] == "Gemm"
    # every node re-validates its sub-model: the node runs add a little to the whole run's steps
    assert report["largest_node_steps"] < report["whole_model_steps"] < report["sum_node_steps"]
    for key in ("native_infer_s", "phase1_trace_s"):
        assert 0 < report[key]["min"] <= report[key]["median"]
    assert report["trace_over_infer"]["min"] == report["phase1_trace_s"]["min"] / report["native_infer_s"]["min"]


def test_transformer_splits_and_its_multi_input_nodes_match_in_the_vm():
    """The converted GPT (int32 ids, residual Adds, attention MatMuls of two run-time inputs):
    the node-by-node trace gives the whole model's logits; the ids node and every node with
    several run-time inputs end in the VM at the native tensor root."""
    from converter import convert

    blob = convert(MODELS / "gpt_shakespeare_small.onnx").mdnn
    split = split_model(blob)
    x = np.arange(split.input_shape[-1], dtype=np.int32).reshape(split.input_shape) % 50
    trace = run_trace(split, x)
    assert np.array_equal(trace.output, infer(blob, x))
    first = split.node(1)
    assert first.op == "Gather" and first.arg_dtypes == (DTYPE_I32,)
    multi = [n.index for n in split.nodes if len(n.args) > 1]
    assert len(multi) >= 6
    for j in [1, *multi]:
        final, image = run_node_vm(trace, j)
        assert final.memory.read(image.output_base, split.node(j).output_nbytes) == trace.tensors[j]


def test_bench_command_line(tmp_path, capsys):
    import json

    from minidnn.phase1 import main

    path = tmp_path / "m.mdnn"
    path.write_bytes(multi_input_model())
    assert main([str(path), "--repeat", "1", "--no-vm"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"] == 11
    (tmp_path / "bad.mdnn").write_bytes(b"MDNN\x01")
    assert main([str(tmp_path / "bad.mdnn")]) == 2
    assert main([str(tmp_path / "missing.mdnn")]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_failing_node_ends_the_trace_with_its_failure_hash():
    """Node 2's native run fails (index 9); its VM run exits with the same error code; the failed trace
    stops there with C_2 the failure hash, and the Python checks accept that transition and refuse
    another failure or a NoHalt state off maxSteps."""
    from minidnn.format import ERROR_CODES
    from minidnn.image import run_state
    from minidnn.phase1 import NodeFailed, failed_trace, failure_hash, node_start_state

    split = split_model(gather_model())
    commitment = commit(split, np.array([0, 1, 2, 3], np.float32))
    with pytest.raises(NodeFailed) as info:
        run_trace(split, np.array([0, 1, 9, 3], np.float32))
    assert info.value.node == 2 and len(info.value.trace.roots) == 2
    partial = info.value.trace
    final, _ = run_state(node_start_state(partial, 2), commitment.spec(2).max_steps)
    assert final.exited and final.exit_code == ERROR_CODES["INDEX"]
    trace = failed_trace(partial, 2, final.encode())
    assert (trace.last, trace.failed, len(trace.commitments)) == (2, 2, 3)
    assert trace.commitments[2] == failure_hash(trace.commitments[1], 2, final.hash())
    with pytest.raises(ValueError, match="no output"):
        trace.output_bytes  # noqa: B018
    with pytest.raises(ValueError, match="no failure"):
        failed_trace(partial, 2, run_node_vm(run_trace(split, np.zeros(4, np.float32)), 2)[0].encode())
    move, _ = transition(trace, commitment, 2, final=final)
    assert move.c_next == trace.commitments[2] and move.output_path == () and move.slot_proof == ()
    assert _check(commitment, trace, 2, move) == move.initial_hash
    with pytest.raises(TransitionError, match="FailureMismatch"):
        _check(commitment, trace, 2, move, final_state=_repack(move.final_state, exit_code=3))
    with pytest.raises(TransitionError, match="StepsOutOfRange"):
        _check(commitment, trace, 2, move, final_state=_repack(move.final_state, exited=False))
    with pytest.raises(TransitionError, match="ArgProofMismatch"):     # inputs still from C_1
        _check(commitment, trace, 2, move, c_prev=trace.commitments[2])


def test_a_node_bound_below_its_run_is_a_no_halt():
    """A registrant may bound a node's steps itself (commit's max_steps): a run that has not halted at
    that bound is the node's NoHalt state, which the transition accepts at exactly maxSteps."""
    from minidnn.image import run_state
    from minidnn.phase1 import failed_trace, node_start_state

    split = split_model(gather_model())
    x = np.array([0, 1, 2, 3], np.float32)
    commitment = commit(split, x, max_steps={2: 1000})
    assert commitment.spec(2).max_steps == 1000 and commitment.steps[1] == 1000
    with pytest.raises(ValueError, match="outside"):
        commit(split, x, max_steps={4: 10})
    full = run_trace(split, x)
    final, _ = run_state(node_start_state(full, 2), 1000)
    assert not final.exited and final.step == 1000
    trace = failed_trace(full, 2, final.encode())
    move, _ = transition(trace, commitment, 2, final=final)
    assert _check(commitment, trace, 2, move) == move.initial_hash
    with pytest.raises(TransitionError, match="StepsOutOfRange"):
        _check(commitment, trace, 2, move, final_state=_repack(move.final_state, step=999))


def test_descriptors_are_cached_by_content(tmp_path, monkeypatch):
    """cached_commit measures once per content (node sub-models, runtime.elf, the bound rule and chosen
    bounds): a second call reads the same descriptors without running any node; a damaged file or
    other chosen bounds measure again."""
    from minidnn import phase1

    split = split_model(gather_model())
    first = phase1.cached_commit(split, cache_dir=tmp_path)
    assert first.nodes_root == commit(split).nodes_root
    (path,) = tmp_path.glob("*.json")
    assert path.stem == phase1.commit_key(split)

    def no_vm(*args, **kwargs):
        raise AssertionError("measured again")

    with monkeypatch.context() as m:
        m.setattr(phase1, "commit", no_vm)
        again = phase1.cached_commit(split, cache_dir=tmp_path)
    assert (again.specs, again.steps, again.nodes_root) == (first.specs, first.steps, first.nodes_root)
    assert again.spec_proof(2) == first.spec_proof(2)
    path.write_text("{not json")
    assert phase1.cached_commit(split, cache_dir=tmp_path).nodes_root == first.nodes_root
    bounded = phase1.cached_commit(split, {2: 1000}, cache_dir=tmp_path)
    assert bounded.spec(2).max_steps == 1000 and bounded.nodes_root != first.nodes_root
    assert phase1.commit_key(split, {2: 1000}) != phase1.commit_key(split) and len(list(tmp_path.glob("*.json"))) == 2
