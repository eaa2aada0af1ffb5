"""Small mipsel programs the daemons can serve without a .mdnn model (tests, quick demos)."""

from __future__ import annotations

from pathlib import Path

from challenger.models import ProgramModel

HERE = Path(__file__).resolve().parent
TOY_INPUT_LENGTH = 64
TOY_OUTPUT_LENGTH = 32


def toy_model(engine: str | None = None) -> ProgramModel:
    """The toy model (challenger/programs/toy_model.c), compiled and cached; ~36k steps."""
    from mipsvm.toolchain import compile_elf

    elf = compile_elf([HERE / "toy_model.c"])
    return ProgramModel(elf, TOY_INPUT_LENGTH, TOY_OUTPUT_LENGTH, name="toy", engine=engine)
