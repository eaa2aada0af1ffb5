"""Shared setup for the contract tests: a toy model image, the MockMIPS toy machine, game players.

The toy machine (tests/fixtures/sol/MockMIPS.sol) only counts steps: from the initial state each step
increments `step`; at `halt_at` it sets exited = 1, the exit code and memRoot = the final memory root
(NEVER: it never halts). `ToyRun` is its Python mirror, so tests know every true intermediate state hash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from contracts.batches import is_leaf, leaf_position
from contracts.chain import eth_tester_web3
from contracts.compile import compile_contracts
from contracts.system import (
    BURN_ADDRESS,
    GameInfo,
    GameStatus,
    ModelImage,
    Phase,
    RequestStatus,
    ResultStatus,
    System,
    deploy_contract,
    deploy_system,
)
from mipsvm.elf import Program, initial_state
from mipsvm.layout import INPUT_BASE, MODEL_BASE, OUTPUT_BASE, PROGRAM_BASE
from mipsvm.memory import Memory, keccak256
from mipsvm.regions import initial_packed_state, region_path
from mipsvm.state import STATE_FORMAT, State
from mipsvm.stepper import Witness, run, step_with_witness

FIXTURES = Path(__file__).parent / "fixtures" / "sol"
ENTRY = PROGRAM_BASE
INPUT_LEN = 100
OUTPUT_LEN = 40
WINDOW = 1000
CLOCK = 500
RESULT_BOND = 10**18
CHALLENGE_BOND = 3 * 10**17
MAX_STEPS = 4096              # the toy model's step bound
NEVER = 2**64 - 1             # halt_at of a machine that never halts


def toy_image() -> Memory:
    """A small image: some program bytes and a model blob; input region zero."""
    mem = Memory()
    mem.write(PROGRAM_BASE, bytes(range(1, 200)))
    mem.write(MODEL_BASE, b"toy model weights" * 10)
    return mem


def toy_input(seed: int = 1) -> bytes:
    return bytes((seed * 7 + i * 13) % 256 for i in range(INPUT_LEN))


def true_output(inp: bytes) -> bytes:
    """What the toy model 'computes' (any deterministic function works for the game)."""
    return keccak256(inp) + inp[:OUTPUT_LEN - 32]


def with_field(packed: bytes, **fields: int | bytes) -> bytes:
    """`packed` with some scalar fields replaced."""
    root, pc, npc, lo, hi, code, exited, step, *regs = STATE_FORMAT.unpack(packed)
    vals = {"mem_root": root, "pc": pc, "next_pc": npc, "lo": lo, "hi": hi, "exit_code": code,
            "exited": exited, "step": step}
    vals.update(fields)
    return STATE_FORMAT.pack(vals["mem_root"], vals["pc"], vals["next_pc"], vals["lo"], vals["hi"],
                             vals["exit_code"], vals["exited"], vals["step"], *regs)


@dataclass
class ToyRun:
    """A run of the toy machine (or a player's belief about it)."""

    initial: bytes          # packed initial state
    halt_at: int
    final_root: bytes
    exit_code: int = 0

    def state(self, k: int) -> bytes:
        if k < self.halt_at:
            return with_field(self.initial, step=k)
        return with_field(self.initial, step=self.halt_at, exited=1, mem_root=self.final_root,
                          exit_code=self.exit_code)

    def hash(self, k: int) -> bytes:
        return keccak256(self.state(k))


def final_memory(image: Memory, inp: bytes, out: bytes) -> Memory:
    mem = image.copy()
    mem.write(INPUT_BASE, inp)
    mem.write(OUTPUT_BASE, out)
    mem.write(0x4000_0000, b"scratch")
    return mem


@dataclass
class World:
    w3: Web3
    system: System
    image: Memory
    model: ModelImage
    model_id: int
    accounts: list[str]

    @property
    def operator(self) -> str:
        return self.accounts[1]

    @property
    def challengers(self) -> list[str]:
        return self.accounts[2:6]

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def run_for(self, inp: bytes, out: bytes, halt_at: int, exit_code: int = 0) -> tuple[ToyRun, Memory]:
        """The run a player believes in: `inp` produces `out` after `halt_at` steps (with `exit_code`)."""
        init_root = self.image.copy()
        init_root.write(INPUT_BASE, inp)
        final = final_memory(self.image, inp, out)
        return ToyRun(initial_packed_state(init_root.root(), ENTRY), halt_at, final.root(), exit_code), final

    def post(self, request_id: int, run: ToyRun, final: Memory, out: bytes, sender: str | None = None) -> int:
        """Post the final state of `run` with `out` as output."""
        proof = region_path(final, OUTPUT_BASE, self.model.output_size)
        return self.system.post_result(request_id, out, run.state(run.halt_at), proof,
                                       sender=sender or self.operator)


def make_world(halt_at: int = 1000, *, inp: bytes | None = None, exit_code: int = 0,
               max_steps: int = MAX_STEPS, **params: int) -> tuple[World, ToyRun]:
    """Fresh chain + MockMIPS whose truth is `true_output(inp)` after `halt_at` steps with `exit_code`
    (the model's step bound is `max_steps`; `params` go to deploy_system); returns the true run."""
    w3 = eth_tester_web3()
    image = toy_image()
    model = ModelImage.from_memory(image, entry=ENTRY, input_length=INPUT_LEN, output_length=OUTPUT_LEN,
                                   model_hash=keccak256(b"toy"), metadata_uri="ipfs://toy", max_steps=max_steps)
    inp = toy_input() if inp is None else inp
    truth_final = final_memory(image, inp, true_output(inp))
    mock = deploy_contract(w3, compile_contracts(FIXTURES)["MockMIPS"], halt_at, truth_final.root(), exit_code)
    system = deploy_system(w3, **{"challenge_window": WINDOW, "clock": CLOCK, "result_bond": RESULT_BOND,
                                  "challenge_bond": CHALLENGE_BOND, "mips_address": mock.address, **params})
    model_id = system.register_model(model)
    world = World(w3, system, image, model, model_id, list(w3.eth.accounts))
    truth, _ = world.run_for(inp, true_output(inp), halt_at, exit_code)
    return world, truth


HashFn = Callable[[int], bytes]


def play(world: World, game_id: int, defender: HashFn, challenger: HashFn,
         prover_state: Callable[[int], bytes] | None = None, prover: str | None = None) -> GameInfo:
    """Play a game to the end: the defender posts `defender(mid)`; the challenger agrees iff it equals
    `challenger(mid)`; at one step `prover_state(lo)` is proven (by `prover`). The defender is the result's
    operator. Returns the final game."""
    sys_ = world.system
    challenger_addr = sys_.game(game_id).challenger
    defender_addr = sys_.result(sys_.game(game_id).result_id).operator
    while True:
        g = sys_.game(game_id)
        if g.status != GameStatus.ACTIVE:
            return g
        if g.phase == Phase.MIDPOINT:
            sys_.post_midpoint(game_id, g.mid, defender(g.mid), sender=defender_addr)
        elif g.phase == Phase.RESPONSE:
            sys_.respond(game_id, g.mid, g.mid_hash == challenger(g.mid), sender=challenger_addr)
        else:
            assert prover_state is not None
            sys_.prove(game_id, prover_state(g.lo), bytes(1792), sender=prover or challenger_addr)


def check_invariant(world: World) -> dict[str, int]:
    """Assert `deposits == credited + withdrawn + locked + burned` from events and chain state alone, the
    contract's ETH == credited + locked + burnt-not-sent-yet and the burn address's ETH == burnSent; returns
    the five sums. locked = fees of Open/Posted requests + bonds of Pending results + bonds of Active games
    + bonds of games the defender won on a still Pending result (settled when the result is)."""
    s, w3 = world.system, world.w3
    p = s.params
    events = s.events_since(0)
    deposits = sum(e["fee"] for e in events if e.name == "RequestCreated")
    deposits += p.result_bond * sum(e.name == "ResultPosted" for e in events)
    deposits += p.challenge_bond * sum(e.name == "GameOpened" for e in events)
    withdrawn = sum(e["amount"] for e in events if e.name == "Withdrawn")
    accounts = {a for e in events for k, a in e.args.items()
                if k in ("requester", "operator", "challenger", "winner", "account")}
    credited = sum(s.balance(a) for a in accounts)
    _, n_requests, n_results, n_games = s.counts()
    locked = sum(r.fee for r in map(s.get_request, range(1, n_requests + 1))
                 if r.status in (RequestStatus.OPEN, RequestStatus.POSTED))
    results = {i: s.result(i) for i in range(1, n_results + 1)}
    # batch leaves (docs/game-rules.md §3a): a disputed leaf is a result like the others; an undisputed one
    # locks its bond until its batch is finalized
    leaves = {e["resultId"] for e in events if e.name == "ResultPosted" and is_leaf(e["resultId"])}
    results.update({i: s.result(i) for i in leaves if s.result(i).status != ResultStatus.NONE})
    settled = {e["batchId"] for e in events if e.name == "BatchFinalized"}
    locked += p.result_bond * sum(i not in results and leaf_position(i)[0] not in settled for i in leaves)
    locked += p.result_bond * sum(r.status == ResultStatus.PENDING for r in results.values())
    games = [s.game(i) for i in range(1, n_games + 1)]
    locked += p.challenge_bond * sum(g.status == GameStatus.ACTIVE for g in games)
    unsettled = sum(g.status == GameStatus.DEFENDER_WON and results[g.result_id].status == ResultStatus.PENDING
                    for g in games)
    assert unsettled == sum(r.defended for r in results.values() if r.status == ResultStatus.PENDING)
    locked += p.challenge_bond * unsettled
    burned, sent = s.burned(), s.burn_sent()
    assert burned == sum(e["burnt"] for e in events if e.name == "GameResolved") - unsettled * p.burn_share(
        p.challenge_bond)
    assert sent == sum(e["amount"] for e in events if e.name == "BurnSent") <= burned
    assert deposits == credited + withdrawn + locked + burned
    assert w3.eth.get_balance(s.address) == credited + locked + burned - sent
    assert w3.eth.get_balance(BURN_ADDRESS) == sent
    return {"deposits": deposits, "credited": credited, "withdrawn": withdrawn, "locked": locked,
            "burned": burned}


# ----------------------------------------------------------------------------- a real program's run

TINY_PROGRAM = Path(__file__).parent / "fixtures" / "c" / "tiny_model.c"


@dataclass
class VMRun:
    """The true run of a program on one input: every state hash, the final state, replay to any step."""

    start: State
    hashes: list[bytes]
    final: State

    @classmethod
    def record(cls, program: Program, input_bytes: bytes) -> VMRun:
        """Step the reference stepper from `program`'s initial state with `input_bytes` to its halt."""
        start = initial_state(program)
        start.memory.write(INPUT_BASE, input_bytes)
        s = start.copy()
        hashes = [s.hash()]
        while not s.exited:
            run(s, 1)
            hashes.append(s.hash())
        return cls(start, hashes, s)

    @property
    def steps(self) -> int:
        return len(self.hashes) - 1

    def state_at(self, k: int) -> State:
        s = self.start.copy()
        run(s, k)
        return s

    def witness(self, k: int) -> Witness:
        return step_with_witness(self.state_at(k))


def load_tiny() -> Program:
    """The tiny C program, cross-compiled (cached) and loaded."""
    from mipsvm.elf import load_elf
    from mipsvm.toolchain import compile_elf

    return load_elf(compile_elf([TINY_PROGRAM]))


def deploy_tiny(program: Program, output_length: int = 16) -> tuple[System, int, list[str]]:
    """A fresh eth-tester chain with the real MIPS.sol and Optimist, the tiny program registered."""
    w3 = eth_tester_web3()
    system = deploy_system(w3, challenge_window=600, clock=300)
    model = ModelImage.from_memory(initial_state(program).memory, entry=program.entry, input_length=64,
                                   output_length=output_length, model_hash=keccak256(TINY_PROGRAM.read_bytes()),
                                   metadata_uri="test://tiny")
    return system, system.register_model(model), list(w3.eth.accounts)
