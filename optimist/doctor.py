"""`optimist doctor`: check every toolchain part, with versions and a one-line fix for what is missing."""

from __future__ import annotations

import importlib.metadata as md
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FIX_SETUP = "run `make setup` (creates .venv, pip install -e '.[dev]', npm ci)"
PYTHON_PACKAGES = ["numpy", "unicorn", "pyelftools", "web3", "eth-tester", "py-evm", "py-solc-x",
                   "cffi", "ziglang", "softfloatpy", "onnx", "onnxruntime", "scikit-learn",
                   "click", "rich"]


@dataclass
class Check:
    part: str
    ok: bool
    version: str
    detail: str = ""


def check_python_packages() -> list[Check]:
    checks = []
    for name in PYTHON_PACKAGES:
        try:
            checks.append(Check(f"python: {name}", True, md.version(name)))
        except md.PackageNotFoundError:
            checks.append(Check(f"python: {name}", False, "-", f"missing; {FIX_SETUP}"))
    return checks


def check_cross_compiler() -> Check:
    from mipsvm.toolchain import ToolchainError, compile_elf, zig_version

    try:
        version = zig_version()
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "doctor.c"
            src.write_text("int main(void) { volatile float x = 2.0f; return (int)(x * 21.0f); }\n")
            elf = compile_elf([src])
        return Check("zig cc (mipsel)", True, version, f"built {elf.name}")
    except (ToolchainError, OSError) as exc:
        return Check("zig cc (mipsel)", False, "-", f"{exc}; {FIX_SETUP}")


def check_unicorn() -> Check:
    from unicorn import UC_ARCH_MIPS, UC_MODE_LITTLE_ENDIAN, UC_MODE_MIPS32, Uc, __version__
    from unicorn.mips_const import UC_MIPS_REG_2

    mu = Uc(UC_ARCH_MIPS, UC_MODE_MIPS32 + UC_MODE_LITTLE_ENDIAN)
    mu.mem_map(0x400000, 0x1000)
    mu.mem_write(0x400000, (0x2402002A).to_bytes(4, "little"))  # addiu $v0, $zero, 42
    mu.emu_start(0x400000, until=0, count=1)
    ok = mu.reg_read(UC_MIPS_REG_2) == 42
    return Check("unicorn", ok, __version__, "" if ok else "MIPS emulation broken")


def check_solc() -> Check:
    from contracts.compile import CompileError, solc_version

    try:
        return Check("solc (npm)", True, solc_version())
    except (CompileError, OSError, Exception) as exc:  # any failure is a verdict
        return Check("solc (npm)", False, "-", f"{exc}")


def check_anvil() -> Check:
    from contracts.chain import ChainError, anvil_binary

    try:
        out = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True,
                             timeout=20, check=True)
        return Check("anvil (npm)", True, out.stdout.split("\n")[0].split()[-1])
    except (ChainError, OSError, subprocess.SubprocessError) as exc:
        return Check("anvil (npm)", False, "-", f"{exc}")


def check_node() -> Check:
    node = shutil.which("node")
    if node is None:
        return Check("node", False, "-", "install Node.js 18+ (apt-get install nodejs npm)")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return Check("node", out.returncode == 0, out.stdout.strip())


CHECKS: list[Callable[[], Check | list[Check]]] = [
    check_python_packages, check_node, check_cross_compiler, check_unicorn, check_solc, check_anvil,
]


def run_checks() -> list[Check]:
    results: list[Check] = []
    for fn in CHECKS:
        try:
            got = fn()
        except Exception as exc:  # a crashing check is a failed check
            got = Check(fn.__name__.removeprefix("check_"), False, "-", f"{type(exc).__name__}: {exc}")
        results.extend(got if isinstance(got, list) else [got])
    return results
