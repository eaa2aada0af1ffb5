"""Gas per inference with batched results (docs/game-rules.md §3a), measured on eth-tester with real MIPS.sol.

One inference = its request (the input in calldata and in RequestCreated), its result and its finalization.
`single`: request + postResult + finalize. `batch_N`: N requests + one postBatch of N claims + one
finalizeBatch, divided by N. Every claim is a true result of the model (VM runs of a few distinct inputs,
cycled over the requests: the gas depends on the claims' sizes and bytes, not on which input they answer).

    python -m optimist.bench.batches MODEL.mdnn [--sizes 1,10,100] [--json]
    (the bench measures the MNIST MLP: optimist convert examples/models/mlp_digits.onnx -o mlp.mdnn)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

FEE = 10**15
DISTINCT_INPUTS = 4


def measure_batch_gas(mdnn: Path, sizes: tuple[int, ...] = (1, 10, 100), seed: int = 7) -> dict[str, int]:
    """{"single_request", "single_result", "single_finalize", "single", "batch_N_request", ..., "batch_N"}:
    gas per inference (rounded down), for the model in `mdnn` on a fresh eth-tester chain."""
    from challenger.models import MinidnnModel, Trace
    from contracts.batches import Claim, Leaf
    from contracts.chain import eth_tester_web3
    from contracts.system import advance_time, deploy_system

    w3 = eth_tester_web3()
    system = deploy_system(w3, challenge_window=60, clock=60)
    model = MinidnnModel(mdnn)
    model_id = system.register_model(model.image)
    rng = np.random.default_rng(seed)
    inputs = [rng.random(model.image.input_length // 4, dtype=np.float32).tobytes() for _ in range(DISTINCT_INPUTS)]
    traces = [Trace(model, inp) for inp in inputs]

    def gas() -> int:
        assert system.last_receipt is not None
        return int(system.last_receipt["gasUsed"])

    out: dict[str, int] = {}
    # warm-up: the first request and result create counters every later one only rewrites
    rid = system.request(model_id, inputs[0], FEE)
    t = traces[0]
    system.post_result(rid, t.output, t.final_packed, t.output_proof())
    rid = system.request(model_id, inputs[0], FEE)
    request = gas()
    result_id = system.post_result(rid, t.output, t.final_packed, t.output_proof())
    result = gas()
    advance_time(w3, 61)
    system.finalize(result_id)
    out.update(single_request=request, single_result=result, single_finalize=gas(),
               single=request + result + gas())
    for n in sizes:
        request = 0
        claims = []
        for i in range(n):
            k = i % DISTINCT_INPUTS
            rid = system.request(model_id, inputs[k], FEE)
            request += gas()
            claims.append(Claim(rid, traces[k].output, traces[k].final_packed, traces[k].output_proof()))
        batch_id = system.post_batch(model_id, claims)
        result = gas()
        leaves = [Leaf.from_posted(e.args) for e in system.events_since(system.last_receipt["blockNumber"])
                  if e.name == "ResultPosted"]
        advance_time(w3, 61)
        system.finalize_batch(batch_id, leaves)
        finalize = gas()
        out.update({f"batch_{n}_request": request // n, f"batch_{n}_result": result // n,
                    f"batch_{n}_finalize": finalize // n, f"batch_{n}": (request + result + finalize) // n})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a .mdnn model whose input is float32")
    parser.add_argument("--sizes", default="1,10,100", help="batch sizes, comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(x) for x in args.sizes.split(","))
    except ValueError:
        parser.error(f"--sizes: expected integers separated by commas, got {args.sizes!r}")
    if not all(1 <= n <= 1024 for n in sizes):
        parser.error("--sizes: every batch size must be 1..1024")
    if args.model.suffix != ".mdnn" or not args.model.is_file():
        parser.error(f"{args.model}: expected an existing .mdnn file")
    figures = measure_batch_gas(args.model, sizes)
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"{'':10} {'request':>9} {'result':>9} {'finalize':>9} {'total':>9}")
    for name in ["single", *(f"batch_{n}" for n in sizes)]:
        parts = [figures[f"{name}_{p}"] for p in ("request", "result", "finalize")]
        print(f"{name:10} {parts[0]:>9,} {parts[1]:>9,} {parts[2]:>9,} {figures[name]:>9,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
