#!/bin/sh
# Build the host accuracy scanner from the project's SoftFloat (minidnn/softfloat.py) + mathf.c:
#   minidnn/csrc/tests/build_ulp_scan.sh [out]   (run from the repo root; default build/ulp_scan)
# then: build/ulp_scan [stride] [function...]   (stride 1 = every float32)
set -eu
OUT=${1:-build/ulp_scan}
PY=${PYTHON:-.venv/bin/python}
SRCS=$($PY -c "from minidnn import softfloat as s; s.ensure_sources(); print(' '.join(map(str, s.sources())))")
INCS=$($PY -c "from minidnn import softfloat as s; print(' '.join('-I' + str(d) for d in s.include_dirs()))")
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$OUT")"
# shellcheck disable=SC2086
gcc -O2 -std=gnu11 -ffp-contract=off $INCS -I"$HERE/.." "$HERE/ulp_scan.c" "$HERE/../mathf.c" $SRCS -lm -o "$OUT"
