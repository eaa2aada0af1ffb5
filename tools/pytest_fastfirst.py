"""pytest plugin for mutation runs: run the fastest tests first (with -x a mutant dies at its first failure).

Durations come from mutmut's stats file in the working directory (mutants/mutmut-stats.json), measured
by mutmut's clean run; tests without a measured duration keep their place after the measured ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

STATS = Path("mutmut-stats.json")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stable sort by measured duration, fastest first."""
    try:
        durations: dict[str, float] = json.loads(STATS.read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    order = {item.nodeid: i for i, item in enumerate(items)}
    items.sort(key=lambda item: (durations.get(item.nodeid, float("inf")), order[item.nodeid]))
