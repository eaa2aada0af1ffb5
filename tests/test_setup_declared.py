"""Set-up is reproducible from a clean clone: every third-party import is declared by the project's files."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["mipsvm", "minidnn", "converter", "contracts", "challenger"]
OPTIONAL = {"torch"}  # behind the `torch` extra; code imports it lazily and tests skip without it


def _declared() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs += extra
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _imported_top_modules() -> set[str]:
    mods: set[str] = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    mods |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    mods.add(node.module.split(".")[0])
    return mods


def test_every_third_party_import_is_declared() -> None:
    declared = _declared()
    dist_of = md.packages_distributions()
    missing = []
    for mod in sorted(_imported_top_modules()):
        if mod in PACKAGES or mod in sys.stdlib_module_names or mod in OPTIONAL:
            continue
        dists = {d.lower().replace("_", "-") for d in dist_of.get(mod, [])}
        if not dists:
            missing.append(f"{mod} (not installed at all)")
        elif not dists & declared:
            missing.append(f"{mod} (from {sorted(dists)}; add it to pyproject.toml)")
    assert missing == [], missing


def test_npm_tools_are_pinned_and_locked() -> None:
    pkg = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    for name, spec in pkg["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec), f"{name} must be pinned exactly, got {spec}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == spec


def test_torch_extra_is_exact() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["optional-dependencies"]["torch"] == ["torch==2.13.0"]
