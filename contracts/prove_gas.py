"""Gas of the `prove` transaction by instruction kind, for both outcomes (defender wins / result rejected).

A six-instruction program puts one instruction of each kind at a known step:

    0  addu  $t0, $sp, $zero        alu
    1  lw    $t1, -4($sp)           load
    2  sw    $t0, -8($sp)           store
    3  beq   $zero, $zero, +2       branch (taken; its delay slot is step 4)
    4  addiu $v0, $zero, 4001
    5  syscall                      syscall-exit (exit(0))

For each kind a game is steered so that its one-step proof is that instruction:
- `defend`: the operator posted the true final state, a lying challenger steers the bisection to the step;
  the proof confirms the defender's hash (defender wins: counted on the result, paid and burnt when the
  result is finalized or rejected, docs/game-rules.md §4).
- `reject`: the operator posted a false outcome whose midpoint hashes are true up to the step and false
  after it; the honest challenger's proof rejects the result (burn counted, share credited, the operator
  barred, the request reopened).

The image holds 64 KiB of program text (the six instructions, then filler) and a 64 KiB model blob, so
fetch proofs keep about as many siblings as a real program's (15 of 27 in the MNIST MLP; each kept sibling
is 512 gas of calldata); the stack page is fresh, as early in a run. The deployment is fresh apart from one
warm-up game. The winning challenger has withdrawn everything before the proof (its credit is zero; its
credit slot exists from its first openGame on). `MIPS.step` alone is measured on the same witness (pyrevm)
as a transaction, so `prove - step` is what Optimist adds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from web3 import Web3

from contracts.chain import eth_tester_web3
from contracts.evm import LocalEVM, compile_mips
from contracts.system import ModelImage, Phase, System, advance_time, deploy_system
from mipsvm.elf import Program, Segment, initial_state
from mipsvm.layout import INPUT_BASE, MODEL_BASE, PROGRAM_BASE, SYS_EXIT
from mipsvm.state import State
from mipsvm.stepper import run, step_with_witness

CLOCK, WINDOW = 1800, 3600
INPUT_LENGTH, OUTPUT_LENGTH = 64, 32
TEXT_BYTES = 64 * 1024     # program text (mostly filler)
MODEL_BYTES = 64 * 1024    # model blob at MODEL_BASE


def _r(rs: int, rt: int, rd: int, funct: int) -> int:
    return (rs << 21) | (rt << 16) | (rd << 11) | funct


def _i(op: int, rs: int, rt: int, imm: int) -> int:
    return (op << 26) | (rs << 21) | (rt << 16) | (imm & 0xFFFF)


SP, T0, T1, V0 = 29, 8, 9, 2
PROGRAM = (
    _r(SP, 0, T0, 0x21),          # addu  $t0, $sp, $zero
    _i(0x23, SP, T1, -4),         # lw    $t1, -4($sp)
    _i(0x2B, SP, T0, -8),         # sw    $t0, -8($sp)
    _i(0x04, 0, 0, 2),            # beq   $zero, $zero, +2 (to step 5's word)
    _i(0x09, 0, V0, SYS_EXIT),    # addiu $v0, $zero, 4001 (delay slot)
    0,                            # (skipped)
    0x0000000C,                   # syscall: exit($a0 = 0)
)
KINDS: dict[str, int] = {"alu": 0, "load": 1, "store": 2, "branch": 3, "syscall_exit": 5}


@dataclass(frozen=True)
class ProveGas:
    """Gas of one kind's proof: the whole `prove` transaction both ways, and `MIPS.step` alone."""

    kind: str
    step: int               # MIPS.step(state, proof) as a transaction (pyrevm)
    defend: int             # prove, defender wins
    reject: int             # prove, challenger wins (rejection bookkeeping included), its credit zero before
    proof_bytes: int        # length of the witness proof
    defend_tx: bytes = b""  # the two prove transactions' hashes
    reject_tx: bytes = b""

    @property
    def rejection_extra(self) -> int:
        """What rejecting a result costs beyond a defender win."""
        return self.reject - self.defend


def _program(rng: random.Random) -> Program:
    """PROGRAM, then never-executed filler up to TEXT_BYTES (so that fetch proofs carry as many non-zero
    siblings as a real program's: about 15 of 27 for the MNIST MLP)."""
    code = b"".join(w.to_bytes(4, "little") for w in PROGRAM)
    code += rng.randbytes(TEXT_BYTES - len(code))
    return Program(PROGRAM_BASE, (Segment(vaddr=PROGRAM_BASE, data=code, memsz=len(code), executable=True),))


def _trace(start: State) -> list[State]:
    """States 0..N of the run (N = the exit step)."""
    s = start.copy()
    states = [s.copy()]
    while not s.exited:
        run(s, 1)
        states.append(s.copy())
    return states


def _gas(system: System) -> int:
    assert system.last_receipt is not None
    return int(system.last_receipt["gasUsed"])


def _tx(system: System) -> bytes:
    assert system.last_receipt is not None
    return bytes(system.last_receipt["transactionHash"])


def _play(system: System, gid: int, target: int, operator: str, challenger: str,
          operator_hashes: list[bytes], true_hashes: list[bytes]) -> None:
    """Bisect game `gid` down to [target, target + 1]: the operator posts `operator_hashes`; the challenger
    agrees iff the midpoint is at or before `target` (honest when the operator's hashes are true exactly
    up to `target`; `true_hashes` checks that for a lying operator)."""
    while system.game(gid).phase != Phase.PROOF:
        g = system.game(gid)
        if g.phase == Phase.MIDPOINT:
            system.post_midpoint(gid, g.mid, operator_hashes[g.mid], sender=operator)
            if operator_hashes is not true_hashes and (operator_hashes[g.mid] == true_hashes[g.mid]) != (
                    g.mid <= target):
                raise AssertionError(f"the lie does not start after step {target}")
        else:
            agree = g.mid <= target
            system.respond(gid, g.mid, agree, sender=challenger)
    g = system.game(gid)
    assert (g.lo, g.hi) == (target, target + 1), (g.lo, g.hi, target)


def measure_prove_gas(w3: Web3 | None = None, seed: int = 11) -> dict[str, ProveGas]:
    """Play two games per instruction kind (eth-tester unless `w3` is given; real MIPS.sol); return their gas."""
    rng = random.Random(seed)
    w3 = w3 or eth_tester_web3()
    accounts = w3.eth.accounts
    system = deploy_system(w3, challenge_window=WINDOW, clock=CLOCK)
    image = initial_state(_program(rng))
    image.memory.write(MODEL_BASE, rng.randbytes(MODEL_BYTES))
    model = ModelImage.from_memory(image.memory, entry=PROGRAM_BASE, input_length=INPUT_LENGTH,
                                   output_length=OUTPUT_LENGTH, model_hash=rng.randbytes(32))
    model_id = system.register_model(model)
    mips = LocalEVM().deploy("MIPS", compile_mips())

    input_bytes = rng.randbytes(INPUT_LENGTH)
    start = image.copy()
    start.memory.write(INPUT_BASE, input_bytes)
    states = _trace(start)
    true_hashes = [s.hash() for s in states]
    final = states[-1]
    n = len(states) - 1

    # warm-up: one game lost on time (the deployment is no longer brand new)
    rid = system.request(model_id, input_bytes)
    res_id = system.post_result(rid, bytes(OUTPUT_LENGTH), final.encode(),
                                system.output_proof(model_id, final.memory), sender=accounts[1])
    gid = system.open_game(res_id, sender=accounts[2])
    advance_time(w3, CLOCK + 1)
    system.timeout(gid)

    out: dict[str, ProveGas] = {}
    operator, liar, challenger = accounts[1], accounts[3], accounts[4]
    for kind, target in KINDS.items():
        w = step_with_witness(states[target].copy())
        if mips.call("step", w.state, w.proof) != w.post_hash:
            raise AssertionError(f"MIPS.sol disagrees with the reference stepper on {kind}")
        step_gas = mips.gas_used

        # defender wins: a lying challenger steers to the target step
        rid = system.request(model_id, input_bytes)
        res_id = system.post_result(rid, bytes(OUTPUT_LENGTH), final.encode(),
                                    system.output_proof(model_id, final.memory), sender=operator)
        gid = system.open_game(res_id, sender=challenger)
        _play(system, gid, target, operator, challenger, true_hashes, true_hashes)
        system.prove(gid, w.state, w.proof, sender=operator)
        defend, defend_tx = _gas(system), _tx(system)
        assert system.game(gid).status == 3   # DefenderWon
        advance_time(w3, WINDOW + 1)
        system.finalize(res_id)

        # result rejected: a fresh operator lies after the target step (claims exit code 1 at step n)
        rid = system.request(model_id, input_bytes)
        lie = bytearray(final.encode())
        lie[48] = 1
        lie_hashes = true_hashes[:target + 1] + [keccak(b"lie" + h) for h in true_hashes[target + 1:n]] \
            + [keccak(bytes(lie))]
        res_id = system.post_result(rid, b"", bytes(lie), [], sender=liar)
        gid = system.open_game(res_id, sender=challenger)
        _play(system, gid, target, liar, challenger, lie_hashes, true_hashes)
        if system.balance(challenger):
            system.withdraw(sender=challenger)
        system.prove(gid, w.state, w.proof, sender=challenger)
        reject, reject_tx = _gas(system), _tx(system)
        assert system.game(gid).status == 2   # ChallengerWon
        advance_time(w3, 2)
        res_id = system.post_result(rid, bytes(OUTPUT_LENGTH), final.encode(),
                                    system.output_proof(model_id, final.memory), sender=operator)
        advance_time(w3, WINDOW + 1)
        system.finalize(res_id)
        out[kind] = ProveGas(kind, step_gas, defend, reject, len(w.proof), defend_tx, reject_tx)
    return out


def table(results: dict[str, ProveGas]) -> str:
    """A Markdown table of the measurement."""
    rows = ["| kind | proof bytes | MIPS.step tx | prove, defender wins | prove - MIPS.step | "
            "prove rejecting the result | rejection bookkeeping |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results.values():
        rows.append(f"| {r.kind} | {r.proof_bytes} | {r.step:,} | {r.defend:,} | {r.defend - r.step:,} | "
                    f"{r.reject:,} | {r.rejection_extra:,} |")
    return "\n".join(rows)


def as_dict(results: dict[str, ProveGas]) -> dict[str, Any]:
    """Flat ints for the benchmark: <kind>_defend, _reject and _step."""
    out: dict[str, Any] = {}
    for r in results.values():
        out[f"{r.kind}_defend"] = r.defend
        out[f"{r.kind}_reject"] = r.reject
        out[f"{r.kind}_step"] = r.step
    return out


if __name__ == "__main__":
    print(table(measure_prove_gas()))
