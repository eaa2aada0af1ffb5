"""`optimist vm run|prove`: run a program (or a model image) in the VM, emit one-step witnesses."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mipsvm import stepper
from mipsvm.elf import ElfError, initial_state, load_elf
from mipsvm.fast import FastRunner
from mipsvm.layout import MAX_STEPS
from mipsvm.state import State

MODEL_SUFFIX = ".mdnn"


class VmInputError(click.ClickException):
    """Bad command-line input for `optimist vm` (what is wrong and how to fix it)."""


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def load_target(path: Path, input_path: Path | None) -> tuple[State, Callable[[State], Any] | None]:
    """Initial state for an ELF program, or for a `.mdnn` model with `--input x.npy`.

    A model returns a decoder that reads the output region of a final state.
    """
    if path.suffix == MODEL_SUFFIX:
        if input_path is None:
            raise VmInputError(f"{path} is a model: pass its input with --input x.npy")

        from minidnn import FormatError, MinidnnError
        from minidnn.image import vm_initial_state
        from minidnn.native import Model
        from optimist.inputs import read_array

        try:
            array = read_array(input_path, dtype=Model.load(path).input_dtype)
            state, decode_output = vm_initial_state(path, array)
        except MinidnnError as exc:   # its message names the file
            raise VmInputError(str(exc)) from None
        except (FormatError, OSError) as exc:
            raise VmInputError(f"{path}: {exc}") from None
        return state, decode_output
    if input_path is not None:
        raise VmInputError("--input only applies to .mdnn models; an ELF program has no input")
    try:
        return initial_state(load_elf(path)), None
    except ElfError as exc:
        raise VmInputError(f"{path}: {exc}") from exc


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@click.group("vm")
def vm() -> None:
    """Run programs and models in the MIPS VM; produce one-step proofs."""


@vm.command("run")
@click.argument("program", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Input array (.npy or .json) for a .mdnn model.")
@click.option("--max-steps", type=click.IntRange(1, MAX_STEPS), default=None,
              help="Stop after this many steps even if the program has not exited.")
@click.option("--checkpoint-interval", type=click.IntRange(1), default=1 << 20, show_default=True,
              help="Record a checkpoint every this many steps.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def run_command(program: Path, input_path: Path | None, max_steps: int | None,
                checkpoint_interval: int, as_json: bool) -> None:
    """Run PROGRAM (a mipsel ELF, or a .mdnn model with --input) to exit on the fast runner."""
    state, decode_output = load_target(program, input_path)
    start = time.perf_counter()
    runner = FastRunner(state, checkpoint_interval=checkpoint_interval)
    runner.run(max_steps)
    final = runner.state(copy=False)
    state_hash = final.hash()
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {
        "steps": runner.step,
        "exited": runner.exited,
        "exit_code": runner.exit_code if runner.exited else None,
        "state_hash": _hex(state_hash),
        "seconds": round(seconds, 6),
        "steps_per_second": round(runner.step / seconds) if seconds > 0 else None,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    if decode_output is not None and runner.exited and runner.exit_code == 0:
        result["output"] = [float(x) for x in decode_output(final).ravel().tolist()]
    elif runner.exited and runner.exit_code != 0:
        from mipsvm.layout import describe_exit

        result["error"] = describe_exit(runner.exit_code)
        if decode_output is not None and runner.exit_code < 0x80:
            from minidnn.native import error_for

            result["error"] = str(error_for(runner.exit_code))   # the model's own error, e.g. an index out of range
    if as_json:
        click.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"optimist vm run {program.name}", show_header=False)
    for key, value in result.items():
        if key == "output":
            value = ", ".join(f"{x:.6g}" for x in value[:16]) + (" ..." if len(value) > 16 else "")
        table.add_row(key, str(value))
    Console().print(table)


@vm.command("prove")
@click.argument("program", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Input array (.npy or .json) for a .mdnn model.")
@click.option("--step", "step", type=click.IntRange(0, MAX_STEPS - 1), required=True,
              help="Prove the step that starts from the state after STEP steps.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON witness here instead of stdout.")
def prove_command(program: Path, input_path: Path | None, step: int,
                  output: Path | None) -> None:
    """One-step witness for step STEP of PROGRAM: packed pre-state and memory proofs."""
    state, _ = load_target(program, input_path)
    runner = FastRunner(state)
    pre = runner.state_at(step)
    if pre.step != step:
        raise VmInputError(f"the program halts after {pre.step} steps; --step must be at most "
                           f"{pre.step} (stepping a halted state changes nothing)")
    witness = stepper.step_with_witness(pre)
    doc = {
        "step": step,
        "pre_state_hash": _hex(witness.pre_hash),
        "post_state_hash": _hex(witness.post_hash),
        "state": _hex(witness.state),
        "proof": _hex(witness.proof),
    }
    text = json.dumps(doc, indent=2)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n")
        click.echo(f"wrote witness of step {step} to {output}", err=True)
