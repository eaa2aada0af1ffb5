"""Model registry, requests and result posting: on-chain initial state, output proofs, bad input errors."""

from __future__ import annotations

import dataclasses

import pytest
from contracts_world import (
    CHALLENGE_BOND,
    ENTRY,
    INPUT_LEN,
    MAX_STEPS,
    OUTPUT_LEN,
    RESULT_BOND,
    World,
    make_world,
    toy_input,
    true_output,
    with_field,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.system import ContractRevert, RequestStatus, ResultStatus
from mipsvm.layout import INPUT_BASE, OUTPUT_BASE
from mipsvm.memory import keccak256
from mipsvm.regions import initial_packed_state, initial_state_hash, region_path, region_root


@pytest.fixture
def world() -> World:
    return make_world(halt_at=50)[0]


def reverts(name: str):
    """Context manager: the call must revert with custom error `name`."""
    return pytest.raises(ContractRevert, match=rf": {name}\(")


# ----------------------------------------------------------------------------- registry

def test_registered_model_reads_back(world: World) -> None:
    m = world.system.model(world.model_id)
    assert (m.image_root, m.entry, m.input_base, m.input_length, m.output_base, m.output_length) == (
        world.model.image_root, ENTRY, INPUT_BASE, INPUT_LEN, OUTPUT_BASE, OUTPUT_LEN)
    assert (m.input_size, m.output_size, m.metadata_uri, m.max_steps) == (128, 64, "ipfs://toy", MAX_STEPS)
    assert world.system.input_path(world.model_id) == world.model.input_path
    ev = [e for e in world.system.events_since(0) if e.name == "ModelRegistered"]
    assert len(ev) == 1 and ev[0]["modelHash"] == keccak256(b"toy")


def test_initial_state_hash_matches_python_and_image(world: World) -> None:
    for inp in (toy_input(1), toy_input(2), bytes(INPUT_LEN), b"\xff" * INPUT_LEN):
        mem = world.image.copy()
        mem.write(INPUT_BASE, inp)
        expected = keccak256(initial_packed_state(mem.root(), ENTRY))
        assert world.system.initial_state_hash(world.model_id, inp) == expected
        assert initial_state_hash(inp, ENTRY, INPUT_BASE, 128, world.model.input_path) == expected


LENGTHS = (1, 31, 32, 33, 64, 100, 3136)


@pytest.fixture(scope="module")
def sized_models() -> tuple[World, dict[int, int]]:
    """One world with a model per input length (region = the smallest power of two that fits)."""
    w, _ = make_world(halt_at=5)
    ids = {}
    for length in LENGTHS:
        size = 1 << max(5, (length - 1).bit_length())
        model = dataclasses.replace(w.model, input_size=size, input_length=length,
                                    input_path=region_path(w.image, INPUT_BASE, size))
        ids[length] = w.system.register_model(model)
    return w, ids


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length=st.sampled_from(LENGTHS), data=st.data())
def test_initial_state_on_chain_matches_memory(sized_models, length: int, data) -> None:
    w, ids = sized_models
    size = 1 << max(5, (length - 1).bit_length())
    inp = data.draw(st.binary(min_size=length, max_size=length), label="input")
    mem = w.image.copy()
    mem.write(INPUT_BASE, inp)
    assert region_root(inp, size) == mem.subtree_root(INPUT_BASE, size)
    assert w.system.initial_state_hash(ids[length], inp) == keccak256(initial_packed_state(mem.root(), ENTRY))


def test_register_rejects_bad_regions_and_paths(world: World) -> None:
    s, m = world.system, world.model
    with reverts("BadRegion"):
        s.register_model(dataclasses.replace(m, input_size=96))          # not a power of two
    with reverts("BadRegion"):
        s.register_model(dataclasses.replace(m, input_base=INPUT_BASE + 64))  # misaligned
    with reverts("BadRegion"):
        s.register_model(dataclasses.replace(m, output_length=65))       # longer than the region
    with reverts("BadRegion"):
        s.register_model(dataclasses.replace(m, input_length=0))
    with reverts("RegionsOverlap"):
        s.register_model(dataclasses.replace(m, output_base=INPUT_BASE, output_size=64))
    with reverts("WrongPathLength"):
        s.register_model(dataclasses.replace(m, input_path=m.input_path[:-1]))
    bad = list(m.input_path)
    bad[3] = b"\x01" * 32
    with reverts("InputPathMismatch"):
        s.register_model(dataclasses.replace(m, input_path=bad))
    with reverts("InputPathMismatch"):
        s.register_model(dataclasses.replace(m, image_root=b"\x02" * 32))
    with reverts("BadEntry"):
        s.register_model(dataclasses.replace(m, entry=ENTRY + 2))
    with reverts("BadMaxSteps"):
        s.register_model(dataclasses.replace(m, max_steps=0))
    with reverts("BadMaxSteps") as exc:
        s.register_model(dataclasses.replace(m, max_steps=(1 << 48) + 1))
    assert exc.value.fields == {"maxSteps": (1 << 48) + 1, "limit": 1 << 48}
    assert s.register_model(dataclasses.replace(m, max_steps=1 << 48)) == world.model_id + 1


# ----------------------------------------------------------------------------- requests

def test_request_stores_and_emits(world: World) -> None:
    s = world.system
    block = world.w3.eth.block_number
    rid = s.request(world.model_id, toy_input(), fee=12345, sender=world.accounts[7])
    r = s.get_request(rid)
    assert (r.requester, r.status, r.model_id, r.fee, r.result_id) == (
        world.accounts[7], RequestStatus.OPEN, world.model_id, 12345, 0)
    assert r.initial_state_hash == s.initial_state_hash(world.model_id, toy_input())   # binds the input
    ev = s.events_since(block + 1)
    assert [e.name for e in ev] == ["RequestCreated"]
    assert ev[0]["input"] == toy_input() and ev[0]["initialStateHash"] == r.initial_state_hash


def test_request_bad_input(world: World) -> None:
    s = world.system
    with reverts("WrongInputLength") as exc:
        s.request(world.model_id, toy_input()[:-1])
    assert exc.value.fields == {"expected": INPUT_LEN, "got": INPUT_LEN - 1}
    with reverts("WrongInputLength"):
        s.request(world.model_id, toy_input() + b"\x00")
    with reverts("UnknownModel") as exc:
        s.request(99, toy_input())
    assert exc.value.name == "UnknownModel" and exc.value.fields == {"modelId": 99}


# ----------------------------------------------------------------------------- results

def posted(world: World, halt_at: int = 50) -> tuple[int, int]:
    rid = world.system.request(world.model_id, toy_input(), fee=777)
    run, final = world.run_for(toy_input(), true_output(toy_input()), halt_at)
    return rid, world.post(rid, run, final, true_output(toy_input()))


def test_post_result_records_state(world: World) -> None:
    rid, res_id = posted(world)
    res = world.system.result(res_id)
    run, _ = world.run_for(toy_input(), true_output(toy_input()), 50)
    assert (res.operator, res.status, res.steps, res.bond, res.request_id) == (
        world.operator, ResultStatus.PENDING, 50, RESULT_BOND, rid)
    assert res.final_state_hash == run.hash(50)
    assert res.output_hash == keccak256(true_output(toy_input()))
    assert world.system.get_request(rid).status == RequestStatus.POSTED
    with reverts("RequestNotOpen"):   # a second result for a posted request
        world.post(rid, run, world.run_for(toy_input(), true_output(toy_input()), 50)[1],
                   true_output(toy_input()), sender=world.accounts[8])


def test_post_result_bad_input(world: World) -> None:
    s = world.system
    rid = s.request(world.model_id, toy_input())
    out = true_output(toy_input())
    run, final = world.run_for(toy_input(), out, 50)
    proof = region_path(final, OUTPUT_BASE, 64)
    state = run.state(50)
    op = world.operator

    with reverts("UnknownRequest"):
        s.post_result(42, out, state, proof, sender=op)
    with reverts("WrongBond"):
        s.post_result(rid, out, state, proof, sender=op, bond=RESULT_BOND - 1)
    with reverts("BadStateLength"):
        s.post_result(rid, out, state[:-1], proof, sender=op)
    with reverts("RunNotFinished") as exc:          # not exited: only an outcome at exactly maxSteps
        s.post_result(rid, out, with_field(state, exited=0), proof, sender=op)
    assert exc.value.fields == {"steps": 50, "maxSteps": MAX_STEPS}
    with reverts("RunNotFinished"):
        s.post_result(rid, b"", with_field(state, exited=0, step=MAX_STEPS + 1), [], sender=op)
    with reverts("OutputNotEmpty"):                 # a failed exit carries no output ...
        s.post_result(rid, out, with_field(state, exit_code=0x81), proof, sender=op)
    with reverts("OutputNotEmpty"):                 # ... and no output proof
        s.post_result(rid, b"", with_field(state, exit_code=0x81), proof, sender=op)
    with reverts("OutputNotEmpty"):
        s.post_result(rid, out, with_field(state, exited=0, step=MAX_STEPS), [], sender=op)
    with reverts("StepsOutOfRange"):
        s.post_result(rid, out, with_field(state, step=0), proof, sender=op)
    with reverts("StepsOutOfRange") as exc:         # claims above the model's maxSteps
        s.post_result(rid, out, with_field(state, step=MAX_STEPS + 1), proof, sender=op)
    assert exc.value.fields == {"steps": MAX_STEPS + 1, "maxSteps": MAX_STEPS}
    with reverts("StepsOutOfRange"):
        s.post_result(rid, b"", with_field(state, step=(1 << 48) + 1, exit_code=3), [], sender=op)
    with reverts("WrongOutputLength") as exc:
        s.post_result(rid, out[:-1], state, proof, sender=op)
    assert exc.value.fields == {"expected": len(out), "got": len(out) - 1}
    with reverts("WrongPathLength") as exc:
        s.post_result(rid, out, state, proof[1:], sender=op)
    assert exc.value.fields == {"expected": len(proof), "got": len(proof) - 1}
    with reverts("OutputProofMismatch"):            # output bytes not those of the final memory
        s.post_result(rid, b"\x00" + out[1:], state, proof, sender=op)
    bad = list(proof)
    bad[0] = b"\x07" * 32
    with reverts("OutputProofMismatch"):            # a wrong sibling
        s.post_result(rid, out, state, bad, sender=op)
    with reverts("OutputProofMismatch"):            # the proof of another memory
        s.post_result(rid, out, with_field(state, mem_root=world.image.root()), proof, sender=op)
    assert s.get_request(rid).status == RequestStatus.OPEN
    s.post_result(rid, out, state, proof, sender=op)   # and the right one goes through


def test_open_game_bad_input(world: World) -> None:
    s = world.system
    _, res_id = posted(world)
    with reverts("UnknownResult"):
        s.open_game(9, sender=world.challengers[0])
    with reverts("WrongBond"):
        s.open_game(res_id, sender=world.challengers[0], bond=CHALLENGE_BOND + 1)
    with reverts("SelfChallenge"):
        s.open_game(res_id, sender=world.operator)
    gid = s.open_game(res_id, sender=world.challengers[0])
    with reverts("AlreadyChallenged") as exc:
        s.open_game(res_id, sender=world.challengers[0])
    assert exc.value.fields == {"gameId": gid}
