"""Random corruptions of valid models: the native runtime raises ModelError or runs (never
crashes), and the VM exits with a runtime code (< 0x80), never a fault (unaligned access, ...)."""

import struct

import numpy as np
import pytest

import minidnn
from minidnn import examples
from minidnn.format import seal
from minidnn.image import run_raw


def _mutants(blob: bytes, n: int, seed: int) -> list[bytes]:
    """Word-level corruptions inside the header, tables and arrays (before the weights), resealed
    (a valid checksum: the runtime's own validation is under test)."""
    rng = np.random.default_rng(seed)
    data_start = min(o for o in (struct.unpack_from("<I", blob, 64 + 48 * i + 36)[0]
                                 for i in range(struct.unpack_from("<I", blob, 16)[0])) if o)
    out = []
    for _ in range(n):
        b = bytearray(blob)
        for _ in range(rng.integers(1, 4)):
            off = 4 * int(rng.integers(0, data_start // 4))
            kind = rng.integers(0, 4)
            old = struct.unpack_from("<I", b, off)[0]
            new = [old ^ (1 << int(rng.integers(0, 32))), int(rng.integers(0, 2**32)),
                   old + int(rng.integers(-3, 4)), int(rng.integers(0, 64))][kind] & 0xFFFFFFFF
            struct.pack_into("<I", b, off, new)
        out.append(seal(bytes(b)))
    return out


@pytest.mark.parametrize("make", [examples.digits_cnn, examples.generator])
def test_native_survives_corruption(make):
    blob = make()
    x = examples.sample_input(blob, 0)
    errors = 0
    for mutant in _mutants(blob, 300, seed=len(blob)):
        try:
            minidnn.infer(mutant, x)
        except (minidnn.ModelError, minidnn.InputError) as exc:
            assert exc.code in range(1, 0x80)
            errors += 1
    assert errors > 100


def test_vm_never_faults_on_corruption():
    blob = examples.mlp((6, 5, 3))
    x = np.linspace(-1, 1, 6, dtype=np.float32).tobytes()
    for mutant in _mutants(blob, 25, seed=7):
        final = run_raw(mutant, x, engine="stepper", max_steps=3_000_000)
        assert final.exited and final.exit_code < 0x80, final.exit_code
        try:
            model = minidnn.Model.load(mutant)
            if int(np.prod(model.input_shape)) != 6:
                continue  # the VM reads its input region whatever the size; native refuses
            native_code = 0
            model.run(np.frombuffer(x, np.float32))
        except minidnn.MinidnnError as exc:
            native_code = exc.code
        assert final.exit_code == native_code


HARNESS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime.h"
int main(int argc, char **argv) {
  int bad = 0;
  for (int f = 1; f < argc; f++) {
    FILE *fp = fopen(argv[f], "rb"); fseek(fp, 0, SEEK_END); long n = ftell(fp); fseek(fp, 0, SEEK_SET);
    uint8_t *blob = aligned_alloc(32, (n + 31) & ~31); fread(blob, 1, n, fp); fclose(fp);
    md_info info; int rc = md_plan(blob, n, &info);
    if (rc == 0) {
      uint8_t *arena = aligned_alloc(32, ((info.arena_bytes + 31) & ~31) + 32);
      float32_t *in = calloc(info.input_size, 4), *out = calloc(info.output_size, 4);
      rc = md_run(blob, n, in, info.input_size, out, info.output_size, arena, info.arena_bytes);
      free(arena); free(in); free(out);
    }
    free(blob);
    bad += rc != 0;
  }
  printf("%d files, %d errors\n", argc - 1, bad);
  return 0;
}
"""


@pytest.mark.slow
def test_corrupt_models_under_address_sanitizer(tmp_path):
    """Build the runtime with ASan/UBSan on the host and run hundreds of corrupt models."""
    import shutil
    import subprocess

    from minidnn import build, softfloat

    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed")
    (tmp_path / "harness.c").write_text(HARNESS_C)
    exe = tmp_path / "harness"
    cmd = [gcc, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           "-std=gnu11", "-fno-strict-aliasing", "-w", *[f"-I{d}" for d in build.include_dirs()],
           str(tmp_path / "harness.c"), *map(str, build.c_sources()),
           *map(str, softfloat.sources()), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True)
    files = []
    for seed, make in enumerate([examples.digits_cnn, examples.generator, examples.lenet5]):
        blob = make()
        for i, m in enumerate(_mutants(blob, 200, seed) + [blob[:k] for k in range(0, len(blob), 997)]):
            path = tmp_path / f"m{seed}_{i}.mdnn"
            path.write_bytes(m)
            files.append(str(path))
    proc = subprocess.run([str(exe), *files], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{len(files)} files" in proc.stdout
