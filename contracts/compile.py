"""Compile contracts/src/*.sol with the pinned npm solc through the node shim; artifacts cached by source hash."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import solcx
import solcx.wrapper

REPO_ROOT = Path(__file__).resolve().parents[1]
SRC_DIR = Path(__file__).resolve().parent / "src"
SHIM = Path(__file__).resolve().parent / "solc_shim.js"
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


def compile_subset(names: tuple[str, ...], src_dir: Path = SRC_DIR) -> dict[str, dict[str, Any]]:
    """Artifacts of the sources `names` of `src_dir` alone, staged in a directory named by their content
    (worktrees share build/: a fixed staging directory would let one checkout's sources replace another's
    between the copy and the compile)."""
    texts = {name: (src_dir / name).read_text() for name in names}
    key = hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()[:20]
    staged = ARTIFACT_DIR / "src" / key
    if not staged.is_dir():
        tmp = ARTIFACT_DIR / "src" / f"{key}.{os.getpid()}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (tmp / name).write_text(text)
        try:
            tmp.rename(staged)
        except OSError:       # another process staged the same content first
            shutil.rmtree(tmp, ignore_errors=True)
    return compile_contracts(staged)


def compile_contracts(src_dir: Path = SRC_DIR, *, force: bool = False) -> dict[str, dict[str, Any]]:
    """Return {contract name: {"abi", "bytecode", "runtime"}} for every contract in `src_dir`."""
    sources = _sources(Path(src_dir))
    std_input = _standard_input(sources)
    key = hashlib.sha256(json.dumps(std_input, sort_keys=True).encode()
                         + SHIM.read_bytes()).hexdigest()[:20]
    cache = ARTIFACT_DIR / f"{key}.json"
    if cache.exists() and not force:
        return json.loads(cache.read_text())
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
    ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(artifacts))
    tmp.replace(cache)
    return artifacts


if __name__ == "__main__":
    arts = compile_contracts(force=True)
    for n, a in arts.items():
        print(f"{n}: runtime {(len(a['runtime']) - 2) // 2} bytes")
