"""The committed artifacts in contracts/compiled/ are exactly what solc makes of today's sources
(a fresh clone deploys them without compiling; run `python -m contracts.ship` after editing a .sol)."""

from __future__ import annotations

import json

import pytest

from contracts.compile import SHIPPED_DIR, compile_contracts, source_key
from contracts.ship import shipped_sources


@pytest.mark.parametrize("label", sorted(shipped_sources()))
def test_shipped_artifacts_match_a_fresh_compile(label: str) -> None:
    src = shipped_sources()[label]
    shipped = SHIPPED_DIR / f"{source_key(src)}.json"
    assert shipped.exists(), f"no shipped artifacts for today's {label} sources: run `python -m contracts.ship`"
    assert json.loads(shipped.read_text()) == compile_contracts(src, force=True)


def test_no_stale_shipped_files() -> None:
    current = {f"{source_key(src)}.json" for src in shipped_sources().values()}
    assert {p.name for p in SHIPPED_DIR.glob("*.json")} <= current, "stale files: run `python -m contracts.ship`"
