"""Cross-compile freestanding C to a static mipsel ELF with zig cc; build the host-side native helpers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / "build"
ZIG_CACHE_DIR = REPO_ROOT / ".zig-cache"
DATA_DIR = Path(__file__).resolve().parent / "data"
LINKER_SCRIPT = DATA_DIR / "link.ld"
CRT0 = DATA_DIR / "crt0.c"

TARGET = "mipsel-freestanding-eabi"
CPU = "mips32"
BASE_FLAGS = [
    "-target", TARGET, f"-mcpu={CPU}", "-O2", "-ffreestanding", "-fno-builtin", "-fno-pic",
    "-static", "-ffunction-sections", "-fdata-sections", "-fno-stack-protector",
    "-Wl,--gc-sections", "-Wl,--entry=_start",
]


class ToolchainError(RuntimeError):
    """The cross-compiler failed or is missing."""


def host_library(source: Path, flags: Sequence[str]) -> Path:
    """Compile `source` into a host shared library build/native/<stem>-<hash>.so (once per source
    content) with the first C compiler that works ($CC, cc, gcc, clang, zig cc); ToolchainError
    with every compiler's message if none does."""
    text = source.read_bytes()
    out = BUILD_DIR / "native" / f"{source.stem}-{hashlib.sha256(text).hexdigest()[:16]}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cc_env = os.environ.get("CC")
    compilers = ([[cc_env]] if cc_env else []) + [["cc"], ["gcc"], ["clang"], [sys.executable, "-m", "ziglang", "cc"]]
    errors = []
    for cc in compilers:
        try:
            proc = subprocess.run([*cc, *flags, "-shared", "-fPIC", "-o", str(tmp), str(source)],
                                  capture_output=True, text=True, check=False)
        except FileNotFoundError:
            continue
        if proc.returncode == 0:
            os.replace(tmp, out)
            return out
        errors.append(f"{' '.join(cc)}: {proc.stderr.strip()}")
    raise ToolchainError(f"cannot build {source.name} (needs a C compiler: cc, gcc, clang or ziglang):\n"
                         + "\n".join(errors))


def zig_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ZIG_GLOBAL_CACHE_DIR"] = str(ZIG_CACHE_DIR)
    env.setdefault("ZIG_LOCAL_CACHE_DIR", str(ZIG_CACHE_DIR / "local"))
    return env


def zig_version() -> str:
    out = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True,
                         text=True, env=zig_env(), check=False)
    if out.returncode != 0:
        raise ToolchainError(f"ziglang not usable: {out.stderr.strip()} (fix: make setup)")
    return out.stdout.strip()


def _fingerprint(paths: Iterable[Path], flags: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(zig_version().encode())
    h.update("\0".join(flags).encode())
    for p in sorted(set(paths)):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _headers(include_dirs: Sequence[Path]) -> list[Path]:
    return [h for d in include_dirs for h in Path(d).rglob("*.h")]


def compile_elf(sources: Sequence[str | Path], out: str | Path | None = None, *,
                include_dirs: Sequence[str | Path] = (), defines: Sequence[str] = (),
                extra_flags: Sequence[str] = (), with_crt0: bool = True) -> Path:
    """Compile C sources into a static mipsel ELF; cached by content of sources, headers, flags.

    With `with_crt0` the project's `_start` (calls `main`, exits with its return code) is linked.
    """
    srcs = [Path(s).resolve() for s in sources]
    if with_crt0:
        srcs.append(CRT0)
    incs = [Path(d).resolve() for d in include_dirs]
    flags = [*BASE_FLAGS, *[f"-I{d}" for d in incs], *[f"-D{d}" for d in defines],
             *extra_flags, "-T", str(LINKER_SCRIPT)]
    key = _fingerprint([*srcs, *_headers(incs), LINKER_SCRIPT], flags)
    if out is None:
        out = BUILD_DIR / "elf" / f"{srcs[0].stem}-{key}.elf"
    out = Path(out)
    stamp = out.with_suffix(out.suffix + ".key")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    ZIG_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    cmd = [sys.executable, "-m", "ziglang", "cc", *flags, *map(str, srcs), "-o", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=zig_env(), check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise ToolchainError(f"mipsel compile failed:\n{proc.stderr.strip()}")
    os.replace(tmp, out)  # atomic: parallel test workers never see a half-written ELF
    stamp_tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    stamp_tmp.write_text(key)
    os.replace(stamp_tmp, stamp)
    return out
