"""Compile contracts/src/*.sol with the pinned npm solc through the node shim; artifacts cached by source hash."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import solcx
import solcx.wrapper

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC_DIR = Path(__file__).resolve().parent / "src"
SRC_ENV = "OPTIMIST_SOL_SRC"   # another source directory (mutation testing compiles mutants from there)
SRC_DIR = Path(os.environ.get(SRC_ENV) or DEFAULT_SRC_DIR).resolve()
SHIM = Path(__file__).resolve().parent / "solc_shim.js"
# Committed artifacts of the contracts the app deploys (contracts/ship.py writes them; a test checks they
# equal a fresh compile): a fresh clone deploys without waiting for solc.
SHIPPED_DIR = Path(__file__).resolve().parent / "compiled"
ARTIFACT_DIR = REPO_ROOT / "build" / "contracts"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200


class CompileError(RuntimeError):
    """solc reported errors, or the toolchain is missing."""


def solc_binary() -> Path:
    """The shim path; checks node and the npm solc package are there."""
    if shutil.which("node") is None:
        raise CompileError("node is not on PATH (fix: install Node.js 18+, then `make setup`)")
    if not (REPO_ROOT / "node_modules" / "solc").is_dir():
        raise CompileError("npm solc is not installed (fix: `make setup` runs `npm ci`)")
    return SHIM


def solc_version() -> str:
    return str(solcx.wrapper.get_solc_version(solc_binary(), with_commit_hash=True))


def stage_files(files: dict[str, str], label: str) -> Path:
    """A directory holding exactly `files` ({name: text}), named by their content and written atomically
    (checkouts sharing build/ and compiling different versions at once never see each other's or
    half-written files). Under build/contracts/<label>/, or, under an OPTIMIST_SOL_SRC override, next to
    that directory, so a mutant never lands in the shared build directory."""
    root = ARTIFACT_DIR / label if SRC_DIR == DEFAULT_SRC_DIR else SRC_DIR.parent / "staged" / label
    target = root / hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    if not target.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        for name, text in files.items():
            (tmp / name).write_text(text)
        try:
            tmp.rename(target)
        except OSError:   # another process staged the same content first
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def staged_sources(names: tuple[str, ...], label: str) -> Path:
    """`stage_files` of the sources `names` of SRC_DIR (to compile some contracts alone)."""
    return stage_files({name: (SRC_DIR / name).read_text() for name in names}, label)


def _cache_dir(src_dir: Path) -> Path:
    """build/contracts, except for sources under an OPTIMIST_SOL_SRC override (kept beside them)."""
    if SRC_DIR != DEFAULT_SRC_DIR and src_dir.resolve().is_relative_to(SRC_DIR.parent):
        return SRC_DIR.parent / "artifacts"
    return ARTIFACT_DIR


def _sources(src_dir: Path) -> dict[str, str]:
    files = sorted(src_dir.glob("*.sol"))
    if not files:
        raise CompileError(f"no Solidity sources in {src_dir}")
    return {f.name: f.read_text() for f in files}


def _standard_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "viaIR": True,
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object",
                                            "evm.deployedBytecode.object"]}},
        },
    }


def source_key(src_dir: Path) -> str:
    """The compile's identity: every source, every setting and the shim."""
    std_input = _standard_input(_sources(Path(src_dir)))
    return hashlib.sha256(json.dumps(std_input, sort_keys=True).encode() + SHIM.read_bytes()).hexdigest()[:20]


def compile_contracts(src_dir: Path = SRC_DIR, *, force: bool = False) -> dict[str, dict[str, Any]]:
    """Return {contract name: {"abi", "bytecode", "runtime"}} for every contract in `src_dir`: from the
    build cache, else from the shipped artifacts of exactly these sources, else compiled by solc."""
    std_input = _standard_input(_sources(Path(src_dir)))
    key = source_key(Path(src_dir))
    cache = _cache_dir(Path(src_dir)) / f"{key}.json"
    if cache.exists() and not force:
        return json.loads(cache.read_text())
    shipped = SHIPPED_DIR / f"{key}.json"
    if shipped.exists() and not force:
        return json.loads(shipped.read_text())
    try:
        out = solcx.compile_standard(std_input, solc_binary=solc_binary(),
                                     allow_empty=True)
    except solcx.exceptions.SolcError as exc:
        raise CompileError(str(exc)) from exc
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    artifacts: dict[str, dict[str, Any]] = {}
    for contracts in out["contracts"].values():
        for name, c in contracts.items():
            artifacts[name] = {
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                "runtime": "0x" + c["evm"]["deployedBytecode"]["object"],
            }
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(artifacts))
    tmp.replace(cache)
    return artifacts


if __name__ == "__main__":
    arts = compile_contracts(force=True)
    for n, a in arts.items():
        print(f"{n}: runtime {(len(a['runtime']) - 2) // 2} bytes")
