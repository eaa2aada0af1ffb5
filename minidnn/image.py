"""The VM image of a model: runtime.elf + the .mdnn blob (+ a zeroed input region) in VM memory.

`vm_image(model)` gives what the registry contract needs (imageRoot with the input zeroed, entry,
input/output regions, the sibling paths of the input and output subtrees, model hash) and makes
initial states for inputs; `run_vm(model, x)` runs one inference on the fast runner.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from minidnn.format import content_hash
from minidnn.native import InputError, MinidnnError, Model, ModelError, error_for, load
from mipsvm import layout
from mipsvm.elf import initial_state as elf_initial_state
from mipsvm.elf import load_elf
from mipsvm.regions import region_path, region_root
from mipsvm.runs import check_engine, run_to
from mipsvm.state import State

DEFAULT_MAX_STEPS = 1 << 40


class VMRunError(MinidnnError):
    """The VM run did not finish with exit code 0."""


@cache
def runtime_elf() -> Path:
    """runtime.elf (built once per toolchain version and source content)."""
    from minidnn.build import build_runtime_elf

    return build_runtime_elf()


def layout_state(blob: bytes, elf: Path | None = None) -> State:
    """Initial state with runtime.elf loaded and `blob` at MODEL_BASE (input region zero)."""
    if len(blob) > layout.MODEL_END - layout.MODEL_BASE:
        raise ModelError(f"model of {len(blob)} bytes does not fit the VM model region")
    program = load_elf(elf or runtime_elf())
    state = elf_initial_state(program)
    state.memory.write(layout.MODEL_BASE, bytes(blob))
    return state


@dataclass(frozen=True, eq=False)
class Image:
    """A model laid out for the VM; immutable template plus the contract-facing data."""

    model_hash: bytes
    image_root: bytes
    entry: int
    input_base: int
    input_size: int              # region size (power of two)
    output_base: int
    output_size: int             # region size (power of two)
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_siblings: tuple[bytes, ...]   # bottom-up, from the input subtree root to the root
    output_siblings: tuple[bytes, ...]  # same for the output subtree (of the zeroed image)
    runtime_elf: Path
    model: Model = field(repr=False)
    _template: State = field(repr=False)

    @property
    def input_nbytes(self) -> int:
        return 4 * int(np.prod(self.input_shape))

    @property
    def output_nbytes(self) -> int:
        return 4 * int(np.prod(self.output_shape))

    def input_bytes(self, x: Any) -> bytes:
        """The input as raw float32 LE bytes (InputError if its shape is wrong)."""
        return self.model.check_input(x).tobytes()

    def initial_state(self, x: Any) -> State:
        """State at step 0 for input x (its memRoot = image with the input region filled)."""
        state = self._template.copy()
        state.memory.write(self.input_base, self.input_bytes(x))
        return state

    def input_root(self, x: Any) -> bytes:
        """Merkle root of the input region holding x (what the contract computes on-chain)."""
        return region_root(self.input_bytes(x), self.input_size)

    def output_path(self, state: State) -> tuple[bytes, tuple[bytes, ...]]:
        """(output region root, its sibling path bottom-up) in `state`'s memory."""
        return (state.memory.subtree_root(self.output_base, self.output_size),
                tuple(region_path(state.memory, self.output_base, self.output_size)))

    def decode_output(self, state: State) -> np.ndarray:
        """The output array of a halted state (VMRunError unless it exited with 0)."""
        if not state.exited:
            raise VMRunError(f"the VM has not halted (step {state.step})")
        if state.exit_code != 0:
            raise _exit_error(state.exit_code)
        raw = state.memory.read(self.output_base, self.output_nbytes)
        dtype = "<i4" if self.model.output_dtype == "int32" else "<f4"
        return np.frombuffer(raw, dtype).reshape(self.output_shape).copy()


def _exit_error(code: int) -> MinidnnError:
    if code >= 0x80:
        return VMRunError(f"the VM faulted with exit code {code:#x} (docs/vm-spec.md)", code)
    return error_for(code, "VM run")


_IMAGES: dict[bytes, Image] = {}


def vm_image(model: Model | str | os.PathLike[str] | bytes) -> Image:
    """Build (and cache per model bytes) the VM image of a validated model."""
    m = load(model)
    image = _IMAGES.get(m.blob)
    if image is None:
        image = _IMAGES[m.blob] = _image_for(m)
    return image


def build_image(blob: bytes) -> Image:
    """The VM image of validated model bytes, not cached (vm_image caches; node images of a
    graph are built one at a time by minidnn.nodes)."""
    return _image_for(Model.load(blob))


def _image_for(m: Model) -> Image:
    blob = m.blob
    elf = runtime_elf()
    state = layout_state(blob, elf)
    mem = state.memory
    in_size = layout.region_size(4 * int(np.prod(m.input_shape)))
    out_size = layout.region_size(4 * int(np.prod(m.output_shape)))
    if in_size > layout.INPUT_END - layout.INPUT_BASE or out_size > layout.OUTPUT_END - layout.OUTPUT_BASE:
        raise ModelError("model input/output too large for the VM regions")
    return Image(
        model_hash=content_hash(blob), image_root=mem.root(), entry=state.pc,
        input_base=layout.INPUT_BASE, input_size=in_size,
        output_base=layout.OUTPUT_BASE, output_size=out_size,
        input_shape=m.input_shape, output_shape=m.output_shape,
        input_siblings=tuple(region_path(mem, layout.INPUT_BASE, in_size)),
        output_siblings=tuple(region_path(mem, layout.OUTPUT_BASE, out_size)),
        runtime_elf=elf, model=m, _template=state)



def vm_initial_state(model_path: Model | str | os.PathLike[str] | bytes, x: Any):
    """(initial State for input x, decode_output(State) -> np.ndarray)."""
    image = vm_image(model_path)
    return image.initial_state(x), image.decode_output


@dataclass
class VMResult:
    """One VM inference: output, steps, final state hash, exit code, wall time."""

    output: np.ndarray | None
    steps: int
    exit_code: int
    final_hash: bytes
    seconds: float
    state: State = field(repr=False)


def run_state(state: State, max_steps: int = DEFAULT_MAX_STEPS,
              engine: str = "fast") -> tuple[State, float]:
    """Run a state to halt (or max_steps); (final state, wall seconds of the run).

    `engine` is one of mipsvm.runs.ENGINES: "fast" (unicorn) or "stepper" (the reference stepper).
    """
    check_engine(engine)
    t0 = time.perf_counter()
    final = run_to(state, max_steps, engine)
    return final, time.perf_counter() - t0


def run_vm(model: Model | str | os.PathLike[str] | bytes, x: Any,
           max_steps: int = DEFAULT_MAX_STEPS, engine: str = "fast") -> VMResult:
    """Run one inference in the VM. Raises like native on a non-zero exit."""
    image = vm_image(model)
    final, seconds = run_state(image.initial_state(x), max_steps, engine)
    if not final.exited:
        raise VMRunError(f"no halt within {max_steps} steps")
    output = image.decode_output(final)
    return VMResult(output, final.step, final.exit_code, final.hash(), seconds, final)


def run_raw(blob: bytes, input_bytes: bytes = b"", max_steps: int = DEFAULT_MAX_STEPS,
            engine: str = "fast") -> State:
    """Run runtime.elf on arbitrary (possibly malformed) model bytes; returns the halted state."""
    state = layout_state(blob)
    if input_bytes:
        state.memory.write(layout.INPUT_BASE, input_bytes)
    final, _ = run_state(state, max_steps, engine)
    return final


__all__ = ["Image", "InputError", "VMResult", "VMRunError", "build_image", "layout_state", "run_raw",
           "run_state", "run_vm", "runtime_elf", "vm_image", "vm_initial_state"]
