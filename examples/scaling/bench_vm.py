"""Fast runner vs bare unicorn on minidnn models (mipsvm.benchmark), side by side.

    python examples/scaling/bench_vm.py [--repeats N] MODEL.mdnn|WIDTH ...

A number W means the scaling MLP 784-W-W-10 (built into build/bench/scaling once).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_mlps import build_all

from minidnn.examples import sample_input
from minidnn.image import vm_initial_state
from mipsvm.benchmark import benchmark_state, format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for spec in args.models:
        if spec.isdigit():
            path = next(iter(build_all(Path("build/bench/scaling"), (int(spec),)).values()))
        else:
            path = Path(spec)
        if not path.is_file():
            parser.error(f"{path} does not exist")
        blob = path.read_bytes()
        state, _ = vm_initial_state(path, sample_input(blob, seed=0))
        results.append(benchmark_state(state, path.stem, args.repeats))
        print(json.dumps(results[-1].as_dict()) if args.json else format_table(results[-1:]),
              flush=True)
    if not args.json and len(results) > 1:
        print(format_table(results))


if __name__ == "__main__":
    main()
