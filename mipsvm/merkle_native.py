"""The native Merkle builder (mipsvm/csrc/merkle.c): keccak256, page roots and tree levels in C.

`mipsvm.memory` uses it for bulk hashing (the cold root of a large image: ~120k pages for a
500 MB model); the Python functions there stay the definition, and
tests/test_vm_merkle_native.py checks this module against them. The library is compiled on first
use into build/native (cached by source hash) with the first C compiler that works; without one,
`available()` is False and mipsvm.memory hashes in Python (same results, slower).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from pathlib import Path

from mipsvm.toolchain import ToolchainError, host_library

SOURCE = Path(__file__).resolve().parent / "csrc" / "merkle.c"
PAGE_SIZE = 4096

_LIB: ctypes.CDLL | None = None
_FAILED: str | None = None


class NativeMerkleError(RuntimeError):
    """The native Merkle library could not be built or was called with bad arguments."""


def build_library() -> Path:
    """Compile merkle.c into build/native/merkle-<hash>.so (once per source content)."""
    try:
        return host_library(SOURCE, ["-O3", "-funroll-loops", "-pthread"])
    except ToolchainError as exc:
        raise NativeMerkleError(str(exc)) from None


def library() -> ctypes.CDLL:
    """The loaded library (built on first use); NativeMerkleError if it cannot be built."""
    global _LIB, _FAILED
    if _LIB is None:
        if _FAILED is not None:
            raise NativeMerkleError(_FAILED)
        try:
            lib = ctypes.CDLL(str(build_library()))
        except (NativeMerkleError, OSError) as exc:
            _FAILED = str(exc)
            raise NativeMerkleError(_FAILED) from exc
        lib.mk_keccak256.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
        lib.mk_keccak256.restype = None
        lib.mk_page_roots.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t,
                                      ctypes.c_char_p, ctypes.c_int]
        lib.mk_page_roots.restype = ctypes.c_int
        lib.mk_hash_pairs.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
        lib.mk_hash_pairs.restype = None
        _LIB = lib
    return _LIB


def available() -> bool:
    """True if the native library is (or can be) loaded."""
    try:
        library()
    except NativeMerkleError:
        return False
    return True


def threads() -> int:
    """Threads for bulk page hashing: MIPSVM_MERKLE_THREADS, else the usable CPUs (at most 8)."""
    env = os.environ.get("MIPSVM_MERKLE_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


def keccak256(data: bytes) -> bytes:
    """Ethereum keccak256 of `data` (C)."""
    out = ctypes.create_string_buffer(32)
    library().mk_keccak256(bytes(data), len(data), out)
    return out.raw


def _address(page: bytes | bytearray) -> int:
    if isinstance(page, bytes):
        return ctypes.cast(ctypes.c_char_p(page), ctypes.c_void_p).value or 0
    return ctypes.addressof((ctypes.c_char * len(page)).from_buffer(page))


def page_roots(pages: Sequence[bytes | bytearray], nthreads: int | None = None) -> list[bytes]:
    """Roots (level-7 subtrees) of 4096-byte pages, read in place (no copy)."""
    n = len(pages)
    if any(len(p) != PAGE_SIZE for p in pages):
        raise NativeMerkleError(f"every page must be {PAGE_SIZE} bytes")
    ptrs = (ctypes.c_void_p * max(n, 1))(*[_address(p) for p in pages])
    out = ctypes.create_string_buffer(32 * max(n, 1))
    library().mk_page_roots(ptrs, n, out, threads() if nthreads is None else nthreads)
    raw = out.raw
    return [raw[32 * i:32 * i + 32] for i in range(n)]


def hash_pairs(children: bytes) -> bytes:
    """keccak256 of each consecutive 64-byte pair of `children` (one tree level up), concatenated."""
    if len(children) % 64:
        raise NativeMerkleError("children must be whole 64-byte pairs")
    n = len(children) // 64
    out = ctypes.create_string_buffer(32 * max(n, 1))
    library().mk_hash_pairs(children, n, out)
    return out.raw[:32 * n]
