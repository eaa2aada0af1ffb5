"""mipsvm.regions: region roots and paths agree with Memory, the packed initial state with the ELF
loader, and the lower packages never import the contracts layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mipsvm.elf import Program, Segment, initial_state
from mipsvm.layout import INPUT_BASE, OUTPUT_BASE, PROGRAM_BASE
from mipsvm.memory import Memory
from mipsvm.regions import RegionError, climb, initial_packed_state, region_path, region_root

ROOT = Path(__file__).resolve().parents[1]


def test_region_root_and_path_climb_to_the_memory_root() -> None:
    mem = Memory()
    mem.write(PROGRAM_BASE, b"\x01\x02\x03\x04" * 50)
    data = bytes(range(200))
    mem.write(INPUT_BASE, data)
    assert region_root(data, 256) == mem.subtree_root(INPUT_BASE, 256)
    assert climb(region_root(data, 256), INPUT_BASE, 256, region_path(mem, INPUT_BASE, 256)) == mem.root()
    assert climb(region_root(b"", 64), OUTPUT_BASE, 64, region_path(mem, OUTPUT_BASE, 64)) == mem.root()


@pytest.mark.parametrize(("base", "size"), [(INPUT_BASE, 48), (INPUT_BASE + 32, 64), (0, 16)])
def test_bad_regions_are_refused(base: int, size: int) -> None:
    with pytest.raises(RegionError):
        region_path(Memory(), base, size)


def test_initial_packed_state_is_the_loaders_initial_state() -> None:
    entry = PROGRAM_BASE + 8
    program = Program(entry, (Segment(PROGRAM_BASE, bytes(range(64)), 64, True),))
    state = initial_state(program)
    assert initial_packed_state(state.memory.root(), entry) == state.encode()


@pytest.mark.parametrize("package", ["mipsvm", "minidnn"])
def test_lower_packages_do_not_import_contracts(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("contracts", "challenger", "optimist"), (path, name)
