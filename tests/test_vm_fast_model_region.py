"""The fast runner maps the model blob as whole regions; writes and reads there still follow the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from mipsvm import layout, stepper
from mipsvm.elf import initial_state, load_elf
from mipsvm.fast import FastRunner, _page_runs
from mipsvm.toolchain import compile_elf

WRITE_MODEL = r"""
int main(void) {
    volatile unsigned *model = (volatile unsigned *)0x40000000;   /* MODEL_BASE */
    unsigned acc = 0;
    for (int i = 0; i < 4 * 1024; i += 97) acc += model[i];   /* read across all pages */
    model[1500] = acc;                                      /* write into a middle page */
    model[1501] = model[1500] + 1;
    return (int)((acc ^ model[1501]) & 0x7f);
}
"""


def test_page_runs() -> None:
    assert _page_runs([]) == []
    assert _page_runs([3, 4, 5, 9, 11, 12]) == [(3, 3), (9, 1), (11, 2)]


@pytest.fixture(scope="module")
def write_model_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("c") / "write_model.c"
    src.write_text(WRITE_MODEL)
    return compile_elf([src])


def _with_model_pages(elf: Path):  # type: ignore[no-untyped-def]
    state = initial_state(load_elf(elf))
    for page in range(4):
        state.memory.write(layout.MODEL_BASE + page * layout.PAGE_SIZE,
                           bytes((page * 7 + i) & 0xFF for i in range(layout.PAGE_SIZE)))
    return state


def test_store_into_multi_page_model_region_matches_stepper(write_model_elf: Path) -> None:
    reference = _with_model_pages(write_model_elf)
    stepper.run(reference)
    runner = FastRunner(_with_model_pages(write_model_elf))
    runner.run()
    fast = runner.state()
    assert reference.exited and reference.exit_code < 0x80
    assert (fast.step, fast.exit_code, fast.hash()) == (reference.step, reference.exit_code,
                                                        reference.hash())
