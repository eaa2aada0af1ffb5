"""What a daemon runs: a model's VM image, its native inference, and traces of a request's run.

A `ServedModel` knows its on-chain image (`contracts.system.ModelImage`), how to build the VM state
of an input and how to compute the output natively. Two kinds:

- `MinidnnModel`: a .mdnn file; native inference through minidnn's cffi build, VM image from
  minidnn.image (the runtime ELF + the blob).
- `ProgramModel`: any freestanding mipsel ELF following the VM's program ABI (input at INPUT_BASE,
  output at OUTPUT_BASE); "native" inference runs it on the fast runner. Used by tests and small demos.

A `Trace` is a player's belief about the run of one request: the state hash at any step (the fast
runner from periodic state snapshots) and the one-step witness at any step (the reference stepper). `lying_trace`
builds the consistent false run of a dishonest player (see its docstring).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from contracts.system import ModelImage, Outcome
from mipsvm.layout import INPUT_BASE, MODEL_BASE, OUTPUT_BASE
from mipsvm.memory import keccak256
from mipsvm.regions import region_path
from mipsvm.runs import DEFAULT_INTERVAL, Run, RunError, run_to
from mipsvm.state import State
from mipsvm.stepper import Witness, step_with_witness

log = logging.getLogger("optimist.models")


class ModelError(ValueError):
    """A model file that cannot be served (missing, unreadable, or the run does not exit cleanly)."""


class ServedModel(Protocol):
    name: str

    @property
    def image(self) -> ModelImage: ...

    def initial_state(self, input_bytes: bytes) -> State: ...

    def infer(self, input_bytes: bytes) -> bytes: ...


def _check_input(image: ModelImage, input_bytes: bytes) -> None:
    if len(input_bytes) != image.input_length:
        raise ModelError(f"input is {len(input_bytes)} bytes; the model takes exactly {image.input_length}")


# ------------------------------------------------------------------------------------- programs

@dataclass
class ProgramModel:
    """A mipsel ELF (+ optional blob at MODEL_BASE) run on the VM for both paths."""

    elf: Path | bytes
    input_length: int
    output_length: int
    blob: bytes = b""
    name: str = "program"
    engine: str | None = None      # VM engine of `infer` (default: DEFAULT_ENGINE)

    @cached_property
    def _base_state(self) -> State:
        from mipsvm.elf import initial_state, load_elf

        state = initial_state(load_elf(self.elf))
        if self.blob:
            state.memory.write(MODEL_BASE, self.blob)
        return state

    @cached_property
    def image(self) -> ModelImage:
        st = self._base_state
        return ModelImage.from_memory(st.memory, entry=st.pc, input_length=self.input_length,
                                      output_length=self.output_length,
                                      model_hash=keccak256(self.blob) if self.blob else bytes(32),
                                      metadata_uri=f"optimist:{self.name}")

    def initial_state(self, input_bytes: bytes) -> State:
        _check_input(self.image, input_bytes)
        st = self._base_state.copy()
        st.memory.write(INPUT_BASE, bytes(input_bytes))
        return st

    def infer(self, input_bytes: bytes) -> bytes:
        st = run_to(self.initial_state(input_bytes), 1 << 40, self.engine or DEFAULT_ENGINE)
        if st.exit_code != 0:
            raise ModelError(f"{self.name} exited with code {st.exit_code:#x} on this input")
        return st.memory.read(OUTPUT_BASE, self.output_length)


# ------------------------------------------------------------------------------------- minidnn

@dataclass
class MinidnnModel:
    """A .mdnn model: native inference via minidnn (cffi), the VM image via minidnn.image."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} does not exist")
        self.name = self.path.stem

    @cached_property
    def _vm(self):  # minidnn.image.Image
        from minidnn import MinidnnError
        from minidnn.image import vm_image

        try:
            return vm_image(self.path)
        except MinidnnError as exc:
            raise ModelError(f"{self.path}: {exc}") from None

    @cached_property
    def image(self) -> ModelImage:
        vm = self._vm
        return ModelImage(
            image_root=vm.image_root, entry=vm.entry,
            input_base=vm.input_base, input_size=vm.input_size, input_length=vm.input_nbytes,
            output_base=vm.output_base, output_size=vm.output_size, output_length=vm.output_nbytes,
            input_path=list(vm.input_siblings), model_hash=vm.model_hash, metadata_uri=f"optimist:{self.name}")

    def _array(self, input_bytes: bytes):  # np.ndarray
        import numpy as np

        _check_input(self.image, input_bytes)
        dtype = "<i4" if self._vm.model.input_dtype == "int32" else "<f4"   # token ids, or float32
        return np.frombuffer(bytes(input_bytes), dtype=dtype).reshape(self._vm.input_shape)

    def initial_state(self, input_bytes: bytes) -> State:
        return self._vm.initial_state(self._array(input_bytes))

    def infer(self, input_bytes: bytes) -> bytes:
        import numpy as np

        from minidnn import MinidnnError, infer

        try:
            out = infer(self._vm.model, self._array(input_bytes))
        except MinidnnError as exc:
            raise ModelError(f"{self.name}: {exc}") from None
        dtype = "<i4" if getattr(self._vm.model, "output_dtype", "float32") == "int32" else "<f4"   # generated ids
        return np.ascontiguousarray(out, dtype=dtype).tobytes()


def load_model(path: str | Path) -> ServedModel:
    """A model file as a daemon serves it (.mdnn)."""
    path = Path(path)
    if path.suffix != ".mdnn":
        raise ModelError(f"{path}: expected a .mdnn model (fix: `optimist convert model.onnx -o model.mdnn`)")
    return MinidnnModel(path)


# ------------------------------------------------------------------------------------- traces

DEFAULT_ENGINE = os.environ.get("OPTIMIST_VM_ENGINE", "fast")   # one of mipsvm.runs.ENGINES


def _run(start: State, interval: int, engine: str | None, max_steps: int) -> Run:
    """A mipsvm run of a request to halt or to step `max_steps` (absolute), whichever comes first."""
    try:
        return Run(start, interval, max(0, max_steps - start.step), engine=engine or DEFAULT_ENGINE,
                   must_halt=False)
    except (RunError, ValueError) as exc:
        raise ModelError(str(exc)) from None


def outcome_of(final: State) -> Outcome:
    """What a final state claims: exit 0, another exit code, or still running at the step bound."""
    if not final.exited:
        return Outcome.NO_HALT
    return Outcome.SUCCESS if final.exit_code == 0 else Outcome.FAILURE


class _FinalState:
    """What a result posts, read off the run's final state: outcome, output, packed state, proof.
    Only a successful exit has an output (and its proof); a failure or a non-halt posts none."""

    model: ServedModel
    final: State

    @property
    def exit_code(self) -> int:
        return self.final.exit_code

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.final)

    @cached_property
    def output(self) -> bytes:
        if self.outcome != Outcome.SUCCESS:
            return b""
        img = self.model.image
        return self.final.memory.read(img.output_base, img.output_length)

    @property
    def final_packed(self) -> bytes:
        return self.final.encode()

    def output_proof(self) -> list[bytes]:
        if self.outcome != Outcome.SUCCESS:
            return []
        img = self.model.image
        return region_path(self.final.memory, img.output_base, img.output_size)


class Trace(_FinalState):
    """The honest run of `model` on `input_bytes` to its halt or to the model's `max_steps`:
    hashes and witnesses at any step up to there."""

    def __init__(self, model: ServedModel, input_bytes: bytes, *, interval: int = DEFAULT_INTERVAL,
                 engine: str | None = None, max_steps: int | None = None) -> None:
        self.model = model
        self.input = bytes(input_bytes)
        self.interval = interval
        self.max_steps = max_steps if max_steps is not None else model.image.max_steps
        self.run = _run(model.initial_state(self.input), interval, engine, self.max_steps)
        self.final = self.run.final
        self.steps = self.final.step

    @property
    def initial_hash(self) -> bytes:
        return self.hash_at(0)

    @property
    def final_hash(self) -> bytes:
        return self.run.final_hash

    def hash_at(self, step: int) -> bytes:
        return self.run.hash_at(step)

    def state_at(self, step: int) -> State:
        return self.run.state_at(step)

    def witness_at(self, step: int) -> Witness:
        """Witness of the step from state `step` to `step + 1`."""
        return step_with_witness(self.state_at(step))


def _negate_tail_weights(blob: bytes) -> bytes:
    """The model blob with every plausible float32 weight in its second half negated."""
    words = np.frombuffer(blob[: len(blob) // 4 * 4], dtype="<f4").copy()
    half = len(words) // 2
    tail = words[half:]
    with np.errstate(all="ignore"):
        plausible = np.isfinite(tail) & (np.abs(tail) > 1e-4) & (np.abs(tail) < 1e3)
    tail[plausible] = -tail[plausible]
    words[half:] = tail
    return words.tobytes() + blob[len(words) * 4:]


def _reverse_words(data: bytes) -> bytes:
    reversed_ = b"".join(reversed([data[i:i + 4] for i in range(0, len(data), 4)]))
    return reversed_ if reversed_ != data else bytes(b ^ 0x01 for b in data)


def _argmax(output: bytes) -> int | None:
    if not output or len(output) % 4:
        return None
    values = np.frombuffer(output, dtype="<f4")
    return int(np.nanargmax(values)) if np.isfinite(values).any() else None


class LyingTrace(_FinalState):
    """A consistent false run: equal to `honest` before step `diverge`, then a corrupted state's run.

    So that the dispute is a real game (not a last-step lie), at the middle step of the honest run
    the liar swaps memory and runs on from there: (1) the model's later weights negated, or (2) the
    input region's words reversed. The first candidate that still exits with 0 and changes the
    answer (the argmax of a float32 output, else any byte) is used. If none does, the lie is only
    the final state with the output's first byte flipped (diverge = steps). When the true run fails
    (traps, faults, exits with an error) or does not halt, the lie is a fabricated success: the true
    final state claiming a clean exit (diverge = steps). `edit` replaces all of that with one given
    change to a copy of the true final state (tests: a lie in the last output byte, the exit code or
    the step count only).
    """

    def __init__(self, honest: Trace, edit: Callable[[State], None] | None = None) -> None:
        self.honest = honest
        self.model = honest.model
        self.steps = honest.steps
        self.runner: Run | None = None
        self.diverge = self.steps
        self.how = "output flipped in the final state"
        img = honest.model.image
        k = self.steps // 2
        fallback: tuple[Run, str] | None = None
        candidates = self._candidates(k) if honest.outcome == Outcome.SUCCESS and edit is None else []
        for how, corrupt in candidates:
            st = honest.state_at(k)
            if not corrupt(st):
                continue
            run = _run(st, honest.interval, honest.run.engine, honest.max_steps)
            out = run.final.memory.read(img.output_base, img.output_length)
            if outcome_of(run.final) != Outcome.SUCCESS or out == honest.output:
                continue
            if _argmax(out) != _argmax(honest.output):
                fallback = (run, how)
                break
            fallback = fallback or (run, how)
        if fallback is not None:
            run, self.how = fallback
            self.runner, self.diverge, self.final, self.steps = run, k, run.final, run.final.step
        elif edit is not None:
            fin = honest.final.copy()
            edit(fin)
            self.final, self.how = fin, "an edited final state"
            self.steps, self.diverge = fin.step, min(fin.step, honest.steps)
        elif honest.outcome != Outcome.SUCCESS:
            fin = honest.final.copy()
            fin.exited, fin.exit_code = True, 0
            self.final, self.how = fin, f"a clean exit claimed for a {honest.outcome.name.lower()} run"
        else:
            fin = honest.final.copy()
            first = fin.memory.read(img.output_base, 1)
            fin.memory.write(img.output_base, bytes([first[0] ^ 0x01]))
            self.final = fin
        fields = {"diverge": self.diverge, "steps": self.steps, "how": self.how}
        log.info("lying_trace_built diverge=%d steps=%d how=%s", self.diverge, self.steps, self.how,
                 extra={"event": "lying_trace_built", "fields": fields})   # fields for JSON logs

    def _candidates(self, k: int) -> list[tuple[str, Callable[[State], bool]]]:
        img = self.model.image
        if k < 1:
            return []

        def weights(st: State) -> bool:
            blob = st.memory.read(MODEL_BASE, 1 << 20)
            end = len(blob.rstrip(b"\0"))
            if end < 64:
                return False
            st.memory.write(MODEL_BASE, _negate_tail_weights(blob[:end]))
            return True

        def inputs(st: State) -> bool:
            st.memory.write(img.input_base, _reverse_words(st.memory.read(img.input_base, img.input_length)))
            return True

        return [(f"model weights swapped at step {k}", weights), (f"input swapped at step {k}", inputs)]

    @property
    def final_hash(self) -> bytes:
        return keccak256(self.final_packed)

    def hash_at(self, step: int) -> bytes:
        if step < self.diverge:
            return self.honest.hash_at(step)
        if self.runner is None:
            return self.final_hash
        return self.runner.hash_at(step)

    def state_at(self, step: int) -> State:
        if step < self.diverge:
            return self.honest.state_at(step)
        if self.runner is None:
            return self.final.copy()
        return self.runner.state_at(step)

    def witness_at(self, step: int) -> Witness:
        return step_with_witness(self.state_at(step))


AnyTrace = Trace | LyingTrace


TOY_SOURCE = Path(__file__).resolve().parent / "data" / "toy_model.c"
TOY_INPUT_LENGTH = 64
TOY_OUTPUT_LENGTH = 32


def toy_model(engine: str | None = None) -> ProgramModel:
    """A ~36k-step mipsel program served without a .mdnn model (tests, quick demos); compiled and cached."""
    from mipsvm.toolchain import compile_elf

    elf = compile_elf([TOY_SOURCE])
    return ProgramModel(elf, TOY_INPUT_LENGTH, TOY_OUTPUT_LENGTH, name="toy", engine=engine)


def parse_model_spec(spec: str) -> ServedModel:
    """A model named on the command line: `model.mdnn`, `program.elf:IN_BYTES:OUT_BYTES`, or `toy`."""
    if spec == "toy":
        return toy_model()
    if spec.endswith(".mdnn"):
        return load_model(spec)
    parts = spec.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        elf = Path(parts[0])
        if not elf.is_file():
            raise ModelError(f"program {elf} does not exist")
        return ProgramModel(elf, int(parts[1]), int(parts[2]), name=elf.stem)
    raise ModelError(f"cannot serve {spec!r}: give a .mdnn file, PROGRAM.elf:IN_BYTES:OUT_BYTES, or 'toy'")
