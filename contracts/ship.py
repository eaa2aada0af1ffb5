"""`python -m contracts.ship`: compile the contracts the app deploys and commit their artifacts.

Writes contracts/compiled/<source key>.json for the system contracts (MIPS + Optimist) and for MIPS
alone, and removes stale files there. tests/test_contracts_shipped.py fails when the shipped files do
not match the sources (run this after changing a .sol file).
"""

from __future__ import annotations

import json

from contracts.compile import SHIPPED_DIR, compile_contracts, source_key
from contracts.compile import staged_sources as _staged
from contracts.evm import MIPS_SOURCES
from contracts.system import SYSTEM_SOURCES

SHIPPED = {"system_src": SYSTEM_SOURCES, "mips_src": MIPS_SOURCES}


def shipped_sources() -> dict[str, object]:
    """label -> the staged source directory of each shipped compile."""
    return {label: _staged(names, label) for label, names in SHIPPED.items()}


def ship() -> list[str]:
    """Compile each shipped set afresh and write its artifacts; returns the file names."""
    SHIPPED_DIR.mkdir(exist_ok=True)
    keep = []
    for src in shipped_sources().values():
        name = f"{source_key(src)}.json"
        (SHIPPED_DIR / name).write_text(json.dumps(compile_contracts(src, force=True), sort_keys=True) + "\n")
        keep.append(name)
    for stale in SHIPPED_DIR.glob("*.json"):
        if stale.name not in keep:
            stale.unlink()
    return keep


if __name__ == "__main__":
    for written in ship():
        print(f"contracts/compiled/{written}")
