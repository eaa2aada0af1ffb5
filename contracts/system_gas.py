"""Gas of the system's transactions for the benchmark: register, request with a 784-float input,
postResult with a 10-float output, every game move, the one-step proof, timeout, finalize, withdraw,
requestUntil + cancelRequest, a failure outcome posted, a rejection by timeout (burn + reopen).

`measure_system_gas()` plays real games on eth-tester with the real MIPS.sol: the program is a run of
nops followed by an exit syscall, so every state hash is computed by the reference stepper.
"""

from __future__ import annotations

import random
from typing import Any

from web3 import Web3

from contracts.chain import eth_tester_web3
from contracts.system import ModelImage, Phase, System, advance_time, compile_system, deploy_system
from mipsvm.elf import Program, Segment, initial_state
from mipsvm.layout import INPUT_BASE, MODEL_BASE, OUTPUT_BASE, PROGRAM_BASE, SYS_EXIT
from mipsvm.state import State
from mipsvm.stepper import run

INPUT_FLOATS = 784       # an MNIST image
OUTPUT_FLOATS = 10       # ten logits
MODEL_BLOB = 64 * 1024   # model bytes in the image (only their root matters for gas)
NOPS = 1000              # program length: 2**10 steps -> 10 bisection rounds
WINDOW, CLOCK = 3600, 1800


def _program() -> Program:
    addiu_v0_exit = (0x09 << 26) | (2 << 16) | SYS_EXIT          # addiu $v0, $zero, 4001
    words = [0] * NOPS + [addiu_v0_exit, 0x0000000C]              # nops; exit(0) via syscall
    code = b"".join(w.to_bytes(4, "little") for w in words)
    seg = Segment(vaddr=PROGRAM_BASE, data=code, memsz=len(code), executable=True)
    return Program(PROGRAM_BASE, (seg,))


def _image(rng: random.Random, output: bytes) -> State:
    start = initial_state(_program())
    start.memory.write(MODEL_BASE, rng.randbytes(MODEL_BLOB))
    start.memory.write(OUTPUT_BASE, output)      # the program leaves the output region as in the image
    return start


def _hashes(start: State, input_bytes: bytes) -> tuple[list[bytes], State]:
    s = start.copy()
    s.memory.write(INPUT_BASE, input_bytes)
    begin = s.copy()
    hashes = [s.hash()]
    while not s.exited:
        run(s, 1)
        hashes.append(s.hash())
    return hashes, begin


def _gas(system: System) -> int:
    assert system.last_receipt is not None
    return int(system.last_receipt["gasUsed"])


def measure_system_gas(w3: Web3 | None = None, seed: int = 7) -> dict[str, Any]:
    """Gas used per transaction kind (ints) plus runtime sizes in bytes."""
    from mipsvm.stepper import step_with_witness

    rng = random.Random(seed)
    w3 = w3 or eth_tester_web3()
    acct = w3.eth.accounts
    operator, challenger, other = acct[1], acct[2], acct[3]
    output = rng.randbytes(4 * OUTPUT_FLOATS)
    input_bytes = rng.randbytes(4 * INPUT_FLOATS)
    image = _image(rng, output)
    system = deploy_system(w3, challenge_window=WINDOW, clock=CLOCK)
    out: dict[str, Any] = {"optimist_deploy": int(w3.eth.get_transaction_receipt(
        w3.eth.get_block(w3.eth.block_number)["transactions"][0])["gasUsed"])}
    out["optimist_runtime_bytes"] = (len(compile_system()["Optimist"]["runtime"]) - 2) // 2

    model = ModelImage.from_memory(image.memory, entry=PROGRAM_BASE, input_length=4 * INPUT_FLOATS,
                                   output_length=4 * OUTPUT_FLOATS, model_hash=rng.randbytes(32),
                                   metadata_uri="ipfs://bafy-mnist-model-metadata")
    model_id = system.register_model(model)
    out["register_model"] = _gas(system)
    rid = system.request(model_id, input_bytes, fee=10**15)
    out["request_784_floats"] = _gas(system)

    hashes, begin = _hashes(image, input_bytes)
    final = begin.copy()
    run(final)
    res_id = system.post_result(rid, output, final.encode(), system.output_proof(model_id, final.memory),
                                sender=operator)
    out["post_result_10_floats"] = _gas(system)

    # warm-up: a challenger that stops answering loses (its game is settled with the result, at finalize)
    gid0 = system.open_game(res_id, sender=acct[4])
    # the first game on a result by a challenger never credited before: it creates the operator's bar slot
    # and the challenger's credit slot (22.1k each); a later game on the result by a known account costs ~44k less
    out["open_game"] = _gas(system)
    system.post_midpoint(gid0, system.game(gid0).mid, hashes[system.game(gid0).mid], sender=operator)
    advance_time(w3, CLOCK + 1)
    system.timeout(gid0)
    out["timeout_first_game"] = _gas(system)

    gid = system.open_game(res_id, sender=challenger)
    moves: dict[str, list[int]] = {"post_midpoint": [], "respond_agree": [], "respond_disagree": []}
    first = True
    while system.game(gid).phase != Phase.PROOF:
        g = system.game(gid)
        if g.phase == Phase.MIDPOINT:
            system.post_midpoint(gid, g.mid, hashes[g.mid], sender=operator)
            moves["post_midpoint"].append(_gas(system))
        else:
            agree = not first      # disagree once, then agree: ends at the exit syscall
            first = False
            system.respond(gid, g.mid, agree, sender=challenger)
            moves["respond_agree" if agree else "respond_disagree"].append(_gas(system))
    for name, gases in moves.items():
        out[f"{name}_max"] = max(gases)
    out["rounds"] = len(moves["post_midpoint"])
    g = system.game(gid)
    pre = begin.copy()
    run(pre, g.lo)
    w = step_with_witness(pre)
    system.prove(gid, w.state, w.proof, sender=operator)
    out["prove_step"] = _gas(system)

    gid2 = system.open_game(res_id, sender=other)
    system.post_midpoint(gid2, system.game(gid2).mid, hashes[system.game(gid2).mid], sender=operator)
    advance_time(w3, CLOCK + 1)
    system.timeout(gid2)
    out["timeout"] = _gas(system)
    advance_time(w3, WINDOW)
    system.finalize(res_id)
    out["finalize"] = _gas(system)   # settles the three games the operator won (credit and burns)
    system.send_burn()
    out["send_burn"] = _gas(system)
    system.withdraw(sender=operator)
    out["withdraw"] = _gas(system)
    _request_and_outcome_gas(system, model_id, input_bytes, image, operator, challenger, out)
    return out


def _request_and_outcome_gas(system: System, model_id: int, input_bytes: bytes, image: State, operator: str,
                             challenger: str, out: dict[str, Any]) -> None:
    """requestUntil, cancelRequest, a failure outcome posted, a lie rejected by a timeout (burn + reopen)."""
    w3 = system.w3
    rid = system.request(model_id, input_bytes, fee=10**15, deadline=w3.eth.get_block("latest")["timestamp"] + 60)
    out["request_until_784_floats"] = _gas(system)
    advance_time(w3, 61)
    system.cancel_request(rid)
    out["cancel_request"] = _gas(system)
    rid = system.request(model_id, input_bytes, fee=10**15)
    start = image.copy()
    start.memory.write(INPUT_BASE, input_bytes)
    run(start, 5)
    failed = start.encode()[:48] + bytes([0x84, 1]) + start.encode()[50:]    # exit 0x84 at step 5
    res_id = system.post_result(rid, b"", failed, [], sender=operator)
    out["post_result_failure"] = _gas(system)
    gid = system.open_game(res_id, sender=challenger)
    advance_time(w3, CLOCK + 1)
    system.timeout(gid)
    out["timeout_rejecting"] = _gas(system)


if __name__ == "__main__":
    for key, value in measure_system_gas().items():
        print(f"{key:28s} {value:>10,}")
