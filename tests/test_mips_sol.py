"""MIPS.sol against the reference stepper: random instructions and states, sampled steps of real
programs, proof rejection, gas and size. The contract runs in-process (pyrevm), deployed once."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.evm import Contract, EVMRevert, LocalEVM, compile_mips
from contracts.gas import step_gas
from minidnn.examples import digits_cnn, mlp, sample_input
from minidnn.image import run_state, vm_image
from mipsvm import isa
from mipsvm.elf import initial_state, load_elf
from mipsvm.layout import PROOF_SIZE
from mipsvm.memory import Memory, compact_proof, compact_proof_length
from mipsvm.state import State, StateError, decode_state
from mipsvm.stepper import (
    Witness,
    WitnessError,
    data_access,
    run,
    split_witness_proof,
    step,
    step_with_witness,
    verify_step,
)
from mipsvm.toolchain import compile_elf

PROGRAMS = Path(__file__).parent / "programs"
MASK32 = 0xFFFF_FFFF
FUZZ_EXAMPLES = 1500
MNEMONIC_CASES = 32
SLOW_FUZZ_EXAMPLES = 40000


@pytest.fixture(scope="module")
def mips() -> Contract:
    return LocalEVM().deploy("MIPS", compile_mips())


def run_contract(mips: Contract, w: Witness) -> bytes:
    return mips.call("step", w.state, w.proof)


def assert_same_step(mips: Contract, state: State) -> Witness:
    """Step `state` with the stepper (in place) and check MIPS.sol's post-state hash matches."""
    w = step_with_witness(state)
    got = run_contract(mips, w)
    assert got == w.post_hash, (
        f"MIPS.sol disagrees: pre {decode_state(w.state)} post(stepper) {decode_state(state.encode())}")
    return w


# ----------------------------------------------------------------------------- strategies

WORDS = st.integers(0, MASK32)
INTERESTING = st.sampled_from([0, 1, 2, 3, 4, 31, 32, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFF_FFFF,
                               0x8000_0000, 0x8000_0001, 0xFFFF_FFFF, 0xFFFF_FFFE, 4001, 4246])
VALUES = st.one_of(WORDS, INTERESTING)


def _fields(draw: st.DrawFn, op: int, low: int | None = None) -> int:
    """A word with primary opcode `op`, random register fields, optional fixed low bits."""
    rest = draw(st.integers(0, (1 << 26) - 1))
    if low is not None:
        rest = (rest & ~0x3F) | low
    return (op << 26) | rest


@st.composite
def instruction_words(draw: st.DrawFn) -> int:
    """Mostly implemented encodings of every family, some arbitrary words."""
    kind = draw(st.integers(0, 9))
    if kind == 9:
        return draw(WORDS)
    if kind <= 2:
        return _fields(draw, 0, draw(st.sampled_from(sorted(isa.SPECIAL)) | st.integers(0, 63)))
    if kind == 3:
        rt = draw(st.sampled_from(sorted(isa.REGIMM)) | st.integers(0, 31))
        return (1 << 26) | (draw(st.integers(0, 31)) << 21) | (rt << 16) | draw(st.integers(0, 0xFFFF))
    if kind == 4:
        return _fields(draw, isa.OP_SPECIAL2, draw(st.sampled_from(sorted(isa.SPECIAL2)) | st.integers(0, 63)))
    if kind <= 7:   # loads and stores get twice the weight: they carry the data proof
        ops = [op for op, name in isa.OPCODES.items() if name in isa.LOADS | isa.STORES]
        return _fields(draw, draw(st.sampled_from(sorted(ops))))
    return _fields(draw, draw(st.sampled_from(sorted(isa.OPCODES)) | st.integers(0, 63)))  # kind 8


ALIGNED_PCS = st.one_of(
    st.integers(0x0010_0000, 0x0011_0000).map(lambda a: a & ~3),
    st.integers(0, MASK32).map(lambda a: a & ~3),
    st.sampled_from([0, 0xFFFF_FFFC, 0x0FFF_FFFC, 0x7FFF_EFFC]),
)
PCS = st.integers(0, 19).flatmap(lambda k: st.integers(0, MASK32) if k == 19 else ALIGNED_PCS)  # ~1/20 unaligned


@st.composite
def pre_states(draw: st.DrawFn) -> State:
    """A state about to execute a random instruction, with interesting memory at its data address."""
    word = draw(instruction_words())
    pc = draw(PCS)
    r0 = draw(VALUES) if draw(st.integers(0, 19)) == 19 else 0   # r0 is read from the state as is
    regs = [r0] + [draw(VALUES) for _ in range(31)]
    mem = Memory()
    if draw(st.integers(0, 3)) == 3:              # background: a nearby page of random data
        page = random.Random(draw(st.integers(0, 1 << 32))).randbytes(4096)
        mem.set_page(draw(st.sampled_from([pc >> 12, (pc >> 12) ^ 1, 0x10000])), page)
    base = isa.rs(word)
    if base and isa.mnemonic(word) in isa.LOADS | isa.STORES:
        target = draw(st.one_of(
            st.integers(0, 63).map(lambda d: (pc & ~31) + d - 16),   # same or next leaf as the code
            st.integers(0x1000_0000, 0x1000_0100),
            WORDS))
        regs[base] = (target - isa.simm16(word)) & MASK32
        mem.write(target & ~3 & MASK32, draw(st.binary(min_size=4, max_size=4)))
    mem.write_u32(pc & ~3, word)
    next_pc = draw(st.one_of(st.just((pc + 4) & MASK32), st.just((pc + 4) & MASK32), PCS))
    exited = draw(st.integers(0, 19)) == 19
    return State(mem, pc, next_pc, lo=draw(VALUES), hi=draw(VALUES),
                 exit_code=draw(st.integers(0, 255)) if exited else 0, exited=exited,
                 step=draw(st.integers(0, 1 << 48)), regs=regs)


FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


# ----------------------------------------------------------------------------- differential


@FUZZ
@given(state=pre_states())
def test_random_instruction_matches_stepper(mips: Contract, state: State) -> None:
    assert_same_step(mips, state)


@pytest.mark.slow
@settings(FUZZ, max_examples=SLOW_FUZZ_EXAMPLES, derandomize=False)
@given(state=pre_states())
def test_random_instruction_matches_stepper_long(mips: Contract, state: State) -> None:
    assert_same_step(mips, state)


@pytest.mark.parametrize("name", sorted(set(isa.OPCODES.values()) | set(isa.SPECIAL.values())
                                        | set(isa.REGIMM.values()) | set(isa.SPECIAL2.values())))
def test_every_mnemonic_is_exercised(mips: Contract, name: str) -> None:
    """Each implemented mnemonic with MNEMONIC_CASES random operand sets (coverage independent of fuzz luck)."""
    rng = random.Random(name)
    words = [w for w in _encodings(name, rng, 4 * MNEMONIC_CASES) if isa.mnemonic(w) == name]
    assert len(words) >= MNEMONIC_CASES, f"too few encodings generated for {name}"
    for word in words[:MNEMONIC_CASES]:
        mem = Memory()
        pc = 0x0040_0000 + 4 * rng.randrange(1024)
        regs = [0] + [rng.choice([rng.getrandbits(32), rng.randrange(-4, 5) & MASK32, 0, 0x8000_0000,
                                  0x7FFF_FFFF, MASK32]) for _ in range(31)]
        regs[2] = rng.choice([4001, 4246, regs[2]])
        if name in isa.LOADS | isa.STORES and isa.rs(word):
            addr = 0x1000_0000 + rng.randrange(256)
            regs[isa.rs(word)] = (addr - isa.simm16(word)) & MASK32
            mem.write(addr & ~3, rng.randbytes(4))
        mem.write_u32(pc, word)
        assert_same_step(mips, State(mem, pc, pc + 4, lo=rng.getrandbits(32), hi=rng.getrandbits(32),
                                     regs=regs))


def _encodings(name: str, rng: random.Random, n: int) -> list[int]:
    out = []
    for _ in range(n):
        word = rng.getrandbits(32)
        for table, op, place in ((isa.OPCODES, None, None), (isa.SPECIAL, 0, "funct"),
                                 (isa.REGIMM, 1, "rt"), (isa.SPECIAL2, isa.OP_SPECIAL2, "funct")):
            codes = [c for c, m in table.items() if m == name]
            if not codes:
                continue
            if op is None:
                word = (codes[0] << 26) | (word & ((1 << 26) - 1))
            elif place == "funct":
                word = (op << 26) | (word & ((1 << 26) - 1) & ~0x3F) | codes[0]
            else:
                word = (op << 26) | (word & ((1 << 26) - 1) & ~(31 << 16)) | (codes[0] << 16)
        out.append(word)
    return out


# ----------------------------------------------------------------------------- real programs


def _check_sampled_steps(mips: Contract, state: State, total: int, samples: int, seed: str) -> tuple[int, int]:
    """Step `state` to its halt at step `total` with the stepper; check `samples` random steps plus
    the last one on MIPS.sol. Returns (steps checked, of which memory accesses)."""
    rng = random.Random(seed)
    chosen = set(rng.sample(range(total), min(samples, total))) | {total - 1}
    checked = memory_steps = 0
    for i in range(total):
        if i in chosen:
            memory_steps += data_access(state) is not None
            assert_same_step(mips, state)
            checked += 1
        else:
            step(state)
    assert state.exited and state.step == total
    return checked, memory_steps


def _sampled_run(mips: Contract, elf: str, samples: int, defines: tuple[str, ...] = ()) -> tuple[int, int]:
    """Run a C program from tests/programs with the stepper, checking sampled steps on MIPS.sol."""
    program = load_elf(compile_elf([PROGRAMS / elf], defines=list(defines)))
    probe = initial_state(program)
    total = run(probe)
    state = initial_state(program)
    result = _check_sampled_steps(mips, state, total, samples, elf)
    assert state.encode() == probe.encode()
    return result


def test_sampled_steps_of_sol_mix_program(mips: Contract) -> None:
    checked, memory_steps = _sampled_run(mips, "sol_mix.c", 1000)
    assert checked >= 1000
    assert memory_steps >= 100          # loads and stores (incl. lwl/lwr/swl/swr) are well represented


def test_sampled_steps_of_softfloat_program(mips: Contract) -> None:
    checked, _ = _sampled_run(mips, "fast_softfloat.c", 300, ("ITERATIONS=2",))
    assert checked >= 300


def _minidnn_sampled_run(mips: Contract, blob: bytes, samples: int) -> int:
    """Sample steps of one minidnn inference (runtime.elf + model) against the fast runner's result."""
    image = vm_image(blob)
    x = sample_input(blob)
    fast, _ = run_state(image.initial_state(x), engine="fast")
    assert fast.exited and fast.exit_code == 0
    state = image.initial_state(x)
    checked, memory_steps = _check_sampled_steps(mips, state, fast.step, samples, "minidnn")
    assert state.hash() == fast.hash()
    assert memory_steps >= samples // 20             # loads/stores are sampled too
    return checked


def test_sampled_steps_of_minidnn_inference(mips: Contract) -> None:
    assert _minidnn_sampled_run(mips, mlp((24, 12, 10)), 1000) >= 1000


@pytest.mark.slow
def test_sampled_steps_of_minidnn_cnn(mips: Contract) -> None:
    assert _minidnn_sampled_run(mips, digits_cnn(), 5000) >= 5000


@pytest.mark.slow
def test_every_step_of_sol_mix_program(mips: Contract) -> None:
    path = compile_elf([PROGRAMS / "sol_mix.c"])
    state = initial_state(load_elf(path))
    while not state.exited:
        assert_same_step(mips, state)


# ----------------------------------------------------------------------------- tampered witnesses


@st.composite
def tampered_witnesses(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A valid witness with one random corruption of the state or either proof, an added or dropped
    data proof, or a proof of another length."""
    w = step_with_witness(draw(pre_states()))
    state, proof = bytearray(w.state), bytearray(w.proof)
    n = compact_proof_length(bytes(proof))               # the compact fetch proof's length
    has_data = len(proof) > n
    target = draw(st.sampled_from(["state", "fetch", "data" if has_data else "add_data", "resize"]))
    if target == "add_data":                 # an unused data proof (ignored: any well-formed one)
        mask = draw(st.integers(0, (1 << 27) - 1))
        kept = 27 - mask.bit_count()
        proof += draw(st.binary(min_size=32, max_size=32)) + mask.to_bytes(4, "big") + draw(
            st.binary(min_size=32 * kept, max_size=32 * kept))
    elif target == "resize":                 # drop the data proof, or cut or extend the proof
        size = draw(st.sampled_from([n, n - 32, n + 35, len(proof) - 1, len(proof) + 1, len(proof) + 32]))
        proof = (proof + bytes(size))[:size]
    elif target == "state":
        i = draw(st.integers(0, len(state) - 1))
        state[i] ^= draw(st.integers(1, 255))
    else:                                    # any byte of either proof: leaf, mask or a sibling
        i = draw(st.integers(0, n - 1) if target == "fetch" else st.integers(n, len(proof) - 1))
        proof[i] ^= draw(st.integers(1, 255))
    return bytes(state), bytes(proof)


@settings(FUZZ, max_examples=FUZZ_EXAMPLES // 4)
@given(witness=tampered_witnesses())
def test_tampered_witness_agrees_with_verify_step(mips: Contract, witness: tuple[bytes, bytes]) -> None:
    """MIPS.sol reverts exactly when the stateless Python verifier rejects, else returns its hash."""
    state, proof = witness
    try:
        expected: bytes | None = verify_step(state, proof)
    except (WitnessError, StateError):
        expected = None
    if expected is None:
        with pytest.raises(EVMRevert):
            mips.call("step", state, proof)
    else:
        assert mips.call("step", state, proof) == expected


# ----------------------------------------------------------------------------- faults and halts


def _state_with(word: int, regs: dict[int, int] | None = None, **fields: int) -> State:
    mem = Memory()
    pc = fields.pop("pc", 0x0040_0100)
    mem.write_u32(pc & ~3, word)
    r = [0] * 32
    for k, v in (regs or {}).items():
        r[k] = v
    return State(mem, pc, fields.pop("next_pc", pc + 4), regs=r, **fields)


@pytest.mark.parametrize(("word", "regs", "code"), [
    (0x0000_000C, {2: 4001, 4: 0x1_2A}, 0x2A),                 # syscall exit: $a0 & 0xff
    (0x0000_000C, {2: 4246, 4: 7}, 7),                         # exit_group
    (0x0000_000C, {2: 4004}, 0x86),                            # write: unsupported
    (0x0000_000D, {}, 0x85),                                   # break
    (0x0109_5020, {8: 0x7FFF_FFFF, 9: 1}, 0x83),               # add overflow
    (0x0109_0034, {8: 5, 9: 5}, 0x84),                         # teq
    (0x8D09_0002, {8: 0x1000_0000}, 0x82),                     # lw unaligned
    (0x4400_0000, {}, 0x81),                                   # COP1
    (0xBC00_0000, {}, 0x81),                                   # cache: not implemented
])
def test_faults_and_exit_match(mips: Contract, word: int, regs: dict[int, int], code: int) -> None:
    state = _state_with(word, regs)
    before = state.copy()
    assert_same_step(mips, state)
    assert state.exited and state.exit_code == code
    assert (state.pc, state.next_pc, state.regs, state.step) == (before.pc, before.next_pc, before.regs, 1)


def test_unaligned_pc_faults(mips: Contract) -> None:
    state = _state_with(0, pc=0x0040_0102)
    assert_same_step(mips, state)
    assert state.exited and state.exit_code == 0x87


def test_exited_state_is_unchanged(mips: Contract) -> None:
    state = _state_with(0x2508_0001, exited=True, exit_code=3, step=99)   # addiu would change $t0
    w = assert_same_step(mips, state)
    assert w.post_hash == w.pre_hash


# ----------------------------------------------------------------------------- proof rejection

STORE_WORD = 0xAD09_0004     # sw $t1, 4($t0)


@pytest.fixture()
def store_witness() -> tuple[State, Witness]:
    mem = Memory()
    mem.write(0x1000_0000, bytes(range(1, 65)))
    mem.write(0x1800_0000, b"\x55" * 32)         # a non-zero sibling higher up
    state = State(mem, 0x0040_0000, 0x0040_0004, regs=[0] * 8 + [0x1000_0000, 0xDEADBEEF] + [0] * 22)
    mem.write_u32(0x0040_0000, STORE_WORD)
    pre = state.copy()
    return pre, step_with_witness(state)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _revert(mips: Contract, state: bytes, proof: bytes) -> str:
    with pytest.raises(EVMRevert) as exc:
        mips.call("step", state, proof)
    return exc.value.error


def test_valid_store_witness_is_accepted(mips: Contract, store_witness: tuple[State, Witness]) -> None:
    _, w = store_witness
    assert run_contract(mips, w) == w.post_hash


@pytest.mark.parametrize("sibling", [0, 5, 13, 26])
def test_wrong_fetch_sibling_rejected(mips: Contract, store_witness: tuple[State, Witness], sibling: int) -> None:
    _, w = store_witness
    fetch, data = split_witness_proof(w.proof)
    proof = compact_proof(_flip(fetch, 32 + 32 * sibling + 7)) + compact_proof(data)
    assert _revert(mips, w.state, proof) == "InvalidFetchProof"


@pytest.mark.parametrize("sibling", [0, 5, 13, 26])
def test_wrong_data_sibling_rejected(mips: Contract, store_witness: tuple[State, Witness], sibling: int) -> None:
    _, w = store_witness
    fetch, data = split_witness_proof(w.proof)
    proof = compact_proof(fetch) + compact_proof(_flip(data, 32 + 32 * sibling + 31))
    assert _revert(mips, w.state, proof) == "InvalidDataProof"


def test_wrong_leaves_rejected(mips: Contract, store_witness: tuple[State, Witness]) -> None:
    _, w = store_witness
    assert _revert(mips, w.state, _flip(w.proof, 0)) == "InvalidFetchProof"
    assert _revert(mips, w.state, _flip(w.proof, compact_proof_length(w.proof) + 20)) == "InvalidDataProof"


def test_proofs_for_other_addresses_rejected(mips: Contract, store_witness: tuple[State, Witness]) -> None:
    pre, w = store_witness
    other_fetch = compact_proof(pre.memory.proof(0x0040_0020))   # the next leaf
    other_data = compact_proof(pre.memory.proof(0x1000_0024))    # the leaf after the stored word's
    n = compact_proof_length(w.proof)
    assert _revert(mips, w.state, other_fetch + w.proof[n:]) == "InvalidFetchProof"
    assert _revert(mips, w.state, w.proof[:n] + other_data) == "InvalidDataProof"
    assert _revert(mips, w.state, w.proof[:n] + compact_proof(bytes(PROOF_SIZE))) == "InvalidDataProof"


def test_wrong_pre_state_rejected_or_diverges(mips: Contract, store_witness: tuple[State, Witness]) -> None:
    pre, w = store_witness
    wrong_root = _flip(w.state, 3)
    assert _revert(mips, wrong_root, w.proof) == "InvalidFetchProof"
    moved = pre.copy()
    moved.regs[8] += 64                                  # the store now targets another leaf
    assert _revert(mips, moved.encode(), w.proof) == "InvalidDataProof"
    other_value = pre.copy()
    other_value.regs[9] ^= 1                             # same proofs, different post-state
    assert mips.call("step", other_value.encode(), w.proof) != w.post_hash


def test_bad_lengths_rejected(mips: Contract, store_witness: tuple[State, Witness]) -> None:
    _, w = store_witness
    assert _revert(mips, w.state[:-1], w.proof) == "BadStateLength"
    assert _revert(mips, w.state + b"\0", w.proof) == "BadStateLength"
    n = compact_proof_length(w.proof)
    assert _revert(mips, w.state, w.proof[:n]) == "MissingDataProof"
    assert _revert(mips, w.state, w.proof[:n - 1]) == "BadProofLength"
    assert _revert(mips, w.state, w.proof[:n + 35]) == "BadProofLength"
    assert _revert(mips, w.state, w.proof + bytes(32)) == "BadProofLength"
    assert _revert(mips, w.state, w.proof[:-32]) == "BadProofLength"
    assert _revert(mips, w.state, b"") == "BadProofLength"
    high_bit = w.proof[:32] + (int.from_bytes(w.proof[32:36], "big") | 1 << 27).to_bytes(4, "big") + w.proof[36:]
    assert _revert(mips, w.state, high_bit) == "BadProofLength"      # mask bits above level 26


def test_unused_data_proof_is_ignored(mips: Contract) -> None:
    """A step without a data access takes the fetch proof alone (what the stepper emits) or the fetch
    proof and any well-formed compact proof after it, with the same post-state."""
    pre = _state_with(0x0109_5021, {8: 5, 9: 7})   # addu $t2, $t0, $t1
    w = step_with_witness(pre.copy())
    assert len(w.proof) == compact_proof_length(w.proof) == 36   # the only non-zero leaf: all siblings omitted
    assert mips.call("step", w.state, w.proof) == w.post_hash == verify_step(w.state, w.proof)
    for filler in (bytes(PROOF_SIZE), bytes(range(256)) * 3 + bytes(128)):
        assert mips.call("step", w.state, w.proof + compact_proof(filler)) == w.post_hash
    bad_flag = w.state[:49] + b"\x02" + w.state[50:]
    assert _revert(mips, bad_flag, w.proof) == "BadExitedFlag"


def test_state_hash_helper(mips: Contract, store_witness: tuple[State, Witness]) -> None:
    _, w = store_witness
    assert mips.call("stateHash", w.state) == w.pre_hash


# ----------------------------------------------------------------------------- gas and size


def test_runtime_size_and_step_gas(mips: Contract) -> None:
    size = mips.evm.runtime_size(mips.address)
    gas = step_gas(mips)
    print(f"\nMIPS runtime {size} bytes; step gas {gas}")
    assert size < 24 * 1024
    assert max(gas.values()) < 150_000
    assert gas["swl_unaligned_store"] > gas["addu_no_memory"]   # the store really hashes its path twice
