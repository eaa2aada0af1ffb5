"""The fast runner: exact step counts, halting, checkpoints, history, and the `optimist vm` CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mipsvm import stepper
from mipsvm.checkpoints import CheckpointError
from mipsvm.elf import initial_state, load_elf
from mipsvm.fast import FastRunner, FastRunnerError, unicorn_safe
from mipsvm.memory import Memory, keccak256
from mipsvm.state import State, decode_state
from mipsvm.toolchain import compile_elf
from optimist.commands.vm import vm

PROGRAMS = Path(__file__).parent / "programs"


def _elf(name: str, *defines: str) -> Path:
    return compile_elf([PROGRAMS / f"{name}.c"], include_dirs=[PROGRAMS], defines=defines)


def _reference_hashes(program, steps: int) -> list[bytes]:
    ref = initial_state(program)
    hashes = [ref.hash()]
    for _ in range(steps):
        stepper.step(ref)
        hashes.append(ref.hash())
    return hashes


def test_run_to_every_n_from_fresh_runners() -> None:
    """run_to(N) from step 0 equals stepping N times, for every N (branches and slots included)."""
    program = load_elf(_elf("switch"))
    hashes = _reference_hashes(program, 530)
    for n in range(len(hashes)):
        runner = FastRunner(initial_state(program), checkpoints=False)
        runner.run_to(n)
        assert runner.state_hash() == hashes[n], f"run_to({n})"


def test_run_to_random_increments() -> None:
    program = load_elf(_elf("memops"))
    ref = initial_state(program)
    runner = FastRunner(initial_state(program), checkpoints=False)
    rng = random.Random(7)
    while not ref.exited:
        n = rng.choice([1, 2, 3, 5, 17, 100, 1000])
        stepper.run(ref, n)
        runner.run_to(runner.step + n)
        assert runner.step == ref.step
        assert runner.state_hash() == ref.hash(), f"differs at step {ref.step}"


def test_halting_state_is_final() -> None:
    program = load_elf(_elf("exit42"))
    runner = FastRunner(initial_state(program))
    steps = runner.run()
    assert runner.exited and runner.exit_code == 42
    final = runner.state_hash()
    runner.run_to(steps + 10)                      # stepping a halted state changes nothing
    assert runner.step == steps and runner.state_hash() == final
    assert runner.state_hash_at(steps + 1000) == final


def test_max_steps_stops_exactly() -> None:
    program = load_elf(_elf("recursion"))
    runner = FastRunner(initial_state(program))
    assert runner.run(max_steps=12_345) == 12_345
    assert not runner.exited
    ref = initial_state(program)
    stepper.run(ref, 12_345)
    assert runner.state_hash() == ref.hash()


def test_checkpoints_and_history() -> None:
    program = load_elf(_elf("softfloat"))
    runner = FastRunner(initial_state(program), checkpoint_interval=4096)
    runner.run()
    cps = list(runner.checkpoints)
    assert cps[0].step == 0 and cps[-1].exited
    assert all(cp.step % 4096 == 0 for cp in cps[:-1])
    assert [cp.step for cp in cps] == sorted(cp.step for cp in cps)
    for cp in cps:
        assert keccak256(cp.packed) == cp.hash
        assert decode_state(cp.packed)["step"] == cp.step
    ref = initial_state(program)
    targets = sorted(random.Random(3).sample(range(runner.step), 12))
    expected = {}
    for t in targets:
        stepper.run(ref, t - ref.step)
        expected[t] = ref.hash()
    for t in reversed(targets):                    # backwards: every query resumes a checkpoint
        assert runner.state_hash_at(t) == expected[t], f"state_hash_at({t})"
    state = runner.state_at(targets[3])
    assert state.step == targets[3] and state.hash() == expected[targets[3]]
    witness = stepper.step_with_witness(state)     # the game's one-step witness from state_at
    assert witness.pre_hash == expected[targets[3]]


def test_checkpoint_memory_is_copy_on_write() -> None:
    program = load_elf(_elf("memops"))
    runner = FastRunner(initial_state(program), checkpoint_interval=256)
    runner.run()
    log = runner.checkpoints
    assert len(log) > 10
    assert log.stored_pages < 4 * len(log)          # only changed pages per checkpoint
    with pytest.raises(CheckpointError):
        log.index_before(-1)


def test_state_is_synced_copy() -> None:
    program = load_elf(_elf("sol_mix"))
    runner = FastRunner(initial_state(program))
    runner.run_to(500)
    copy = runner.state()
    stepper.step(copy)                             # mutating the copy leaves the runner alone
    assert runner.step == 500
    ref = initial_state(program)
    stepper.run(ref, 500)
    assert runner.state_hash() == ref.hash()


def test_lazy_zero_memory_and_faults() -> None:
    memory = Memory()
    # lw $t0, 0x7000($zero); sw $t0, 4($sp); lw $t1, 0x1001($zero) (unaligned: fault 0x82)
    for i, word in enumerate([0x8C08_7000, 0xAFA8_0004, 0x8C09_1001]):
        memory.write_u32(0x40_0000 + 4 * i, word)
    regs = [0] * 32
    regs[29] = 0x7FFF_F000
    def make() -> State:
        return State(memory=memory.copy(), pc=0x40_0000, next_pc=0x40_0004, regs=list(regs))
    runner = FastRunner(make(), checkpoints=False)
    runner.run_to(10)
    ref = make()
    stepper.run(ref, 10)
    assert ref.exited and ref.exit_code == 0x82
    assert runner.exited and runner.exit_code == 0x82 and runner.step == ref.step == 3
    assert runner.state_hash() == ref.hash()


def test_whitelist_is_strict() -> None:
    words = np.array([0x0000_0000, 0x0022_1821, 0x0062_1821 | (1 << 6), 0x5022_0002,
                      0xC022_0000, 0x4200_0018, 0x0000_000F, 0x03E0_0008, 0x03E0_F809],
                     dtype=np.uint32)
    assert unicorn_safe(words).tolist() == [True, True, False, False, False, False, False, True,
                                            False]


# --- CLI -------------------------------------------------------------------------------------

def test_cli_run_json_matches_stepper() -> None:
    elf = _elf("softfloat")
    result = CliRunner().invoke(vm, ["run", str(elf), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    ref = initial_state(load_elf(elf))
    stepper.run(ref)
    assert doc["steps"] == ref.step and doc["exit_code"] == ref.exit_code
    assert doc["state_hash"] == "0x" + ref.hash().hex()
    assert doc["steps_per_second"] > 0 and doc["seconds"] > 0


def test_cli_run_table_and_max_steps() -> None:
    result = CliRunner().invoke(vm, ["run", str(_elf("recursion")), "--max-steps", "1000"])
    assert result.exit_code == 0, result.output
    assert "1000" in result.output and "state_hash" in result.output


def test_cli_prove_writes_witness(tmp_path: Path) -> None:
    elf = _elf("int64")
    out = tmp_path / "proof.json"
    result = CliRunner().invoke(vm, ["prove", str(elf), "--step", "777", "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    ref = initial_state(load_elf(elf))
    stepper.run(ref, 777)
    proofs = 1 if stepper.data_access(ref) is None else 2       # fetch proof (|| data proof)
    witness = stepper.step_with_witness(ref)
    assert doc["step"] == 777
    assert doc["state"] == "0x" + witness.state.hex()
    assert doc["proof"] == "0x" + witness.proof.hex() and sum(map(bool, stepper.split_witness_proof(witness.proof))) == proofs
    assert doc["pre_state_hash"] == "0x" + witness.pre_hash.hex()
    assert doc["post_state_hash"] == "0x" + witness.post_hash.hex()


def test_cli_errors(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.elf"
    bogus.write_bytes(b"not an elf" * 10)
    result = CliRunner().invoke(vm, ["run", str(bogus)])
    assert result.exit_code != 0 and "not an ELF" in result.output
    model = tmp_path / "m.mdnn"
    model.write_bytes(b"\0" * 16)
    result = CliRunner().invoke(vm, ["run", str(model)])
    assert result.exit_code != 0 and "--input" in result.output
    result = CliRunner().invoke(vm, ["prove", str(_elf("exit42")), "--step", "999"])
    assert result.exit_code != 0 and "halts after" in result.output


def test_page_faults_in_delay_slots_match_the_stepper() -> None:
    """Stores to fresh and to write-protected-again arena pages, many in branch delay slots (a
    write fault there cannot be handled in place): every checkpoint's hash is the stepper's."""
    program = load_elf(_elf("pagewrites"))
    runner = FastRunner(initial_state(program), checkpoint_interval=512)   # demotes often
    runner.run()
    assert runner.exited and runner.exit_code == 0
    assert runner._engine.page_faults > 0 and runner.events > 0   # both paths were taken
    ref = initial_state(program)
    for cp in runner.checkpoints:
        stepper.run(ref, cp.step - ref.step)
        assert ref.hash() == cp.hash, f"differs at step {cp.step}"
    assert ref.exited


def test_closed_runner_keeps_its_state_but_does_not_run() -> None:
    program = load_elf(_elf("memops"))
    runner = FastRunner(initial_state(program))
    runner.run_to(500)
    expected = runner.state_hash()
    runner.close()
    assert runner.state_hash() == expected and runner.state().step == 500
    runner.run_to(500)                                   # nothing to run: fine
    with pytest.raises(FastRunnerError, match="closed"):
        runner.run_to(501)
    assert runner.state_hash_at(100) == _reference_hashes(program, 100)[100]   # reloads


def test_runners_in_two_threads_match_a_sequential_run() -> None:
    """Runners in two threads at once (the daemons' game and request lanes) end at the sequential
    hashes at every checkpoint: no runner state is shared between engines (the register buffers of
    the batched native calls were once module-wide, and the native call releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    program = load_elf(_elf("softfloat"))

    def checkpoint_hashes() -> list[bytes]:
        runner = FastRunner(initial_state(program), checkpoint_interval=512)
        runner.run()
        return [cp.hash for cp in runner.checkpoints]

    expected = checkpoint_hashes()
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            results = list(pool.map(lambda _: checkpoint_hashes(), range(4)))
            assert all(r == expected for r in results)
