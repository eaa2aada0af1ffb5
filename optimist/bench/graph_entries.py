"""Gas of a graph model's result: postResult against a graph entry batch (docs/game-rules.md §3b, "Graph models").

    python -m optimist.bench.graph_entries

On eth-tester (execution gas; blob gas is extra): a graph model of m = 3 nodes registered with the output length
given, one postResult (its output, C_m and the output's slot proof in the calldata, the output re-emitted in
ResultPosted) against one postEntries of n leaves whose outputs travel elsewhere (blobs: only the leaves in the
calldata) or in the calldata. The claims are consistent (C_m is a slot tree holding the output at slot m): only
their checks and transport are measured, no run. A warm-up postEntries first, so that no figure pays the first
write of the batch counter.

Beside them: postBatch per leaf (n results of the same claim; a graph leaf commits its output by its tensor root,
hashed on-chain from the posted bytes) and the rejectEntry of a leaf that names the true C_m with another output
hash (no game can catch it): its gas and its calldata bytes, which do not depend on the output's size (the output's
tensor root and its slot proof stand for the output, OptimistBatches.Rejection).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from contracts.batches import Claim, EntryLeaf, input_proof, input_root, output_hash
from contracts.chain import eth_tester_web3
from contracts.system import GraphModelSpec, Outcome, deploy_system
from minidnn.nodes import SlotTree, tensor_root
from mipsvm.memory import keccak256

NODES = 3
INPUT_LENGTH = 64
GPT2_LOGITS = 50257 * 4      # one float32 logits row of GPT-2's vocabulary


@dataclass(frozen=True)
class GraphEntryGas:
    output_length: int
    leaves: int
    post_result: int              # one postResult
    entries_elsewhere: int        # per leaf, outputs in blobs (not in the calldata)
    entries_calldata: int | None  # per leaf, outputs in the calldata (None: over the block gas limit)
    batch: int | None             # postBatch per leaf (None: over the block gas limit)
    reject: int                   # rejectEntry of a leaf with the true C_m and another output hash
    reject_bytes: int             # ... its calldata bytes


def measure(output_length: int, leaves: int) -> GraphEntryGas:
    """Measure one model of `output_length` output bytes with entry batches of `leaves` leaves."""
    w3 = eth_tester_web3()
    s = deploy_system(w3, challenge_window=600, clock=300)
    model_id = s.register_graph_model(GraphModelSpec(keccak256(b"bench nodes"), NODES, INPUT_LENGTH, output_length))
    out = bytes((i * 7 + 1) % 251 for i in range(output_length))
    tree = SlotTree()
    tree.set(0, keccak256(b"bench input"))
    tree.set(NODES, tensor_root(out))
    c_m, proof = tree.root, tree.proof(NODES)
    x = bytes(range(INPUT_LENGTH))
    operator = w3.eth.accounts[1]
    leaf = EntryLeaf(0, c_m, output_hash(out, True), NODES, int(Outcome.SUCCESS), 0)

    def post(n: int, outputs: bool) -> int:
        rb = s.request_batch_data(model_id, [x] * n, 0)
        ls = [dataclasses.replace(leaf, index=i) for i in range(n)]
        s.post_entries(rb, ls, [out] * n if outputs else None, sender=operator)
        return int(s.last_receipt["gasUsed"]) // n

    post(1, False)   # warm-up
    s.post_graph_result(s.request(model_id, x, 0), out, c_m, proof, sender=operator)
    single = int(s.last_receipt["gasUsed"])
    elsewhere = post(leaves, False)
    calldata = post(leaves, True) if output_length * leaves * 16 < 25_000_000 else None
    batch = None
    if output_length * leaves * 16 < 25_000_000:
        claims = [Claim(s.request(model_id, x, 0), out, c_m, proof) for _ in range(leaves)]
        s.post_batch(model_id, claims, sender=operator)
        batch = int(s.last_receipt["gasUsed"]) // leaves
    rb = s.request_batch_data(model_id, [x], 0)
    lie = dataclasses.replace(leaf, output_hash=keccak256(b"another output"))
    batch_id = s.post_entries(rb, [lie], sender=operator)
    root = input_root(x, INPUT_LENGTH)
    s.reject_entry(batch_id, 0, lie.leaf(rb), [], root, input_proof([root], 0), c_m, tensor_root(out), proof,
                   sender=w3.eth.accounts[2])
    receipt = s.last_receipt
    sent = w3.eth.get_transaction(receipt["transactionHash"])["input"]
    return GraphEntryGas(output_length, leaves, single, elsewhere, calldata, batch, int(receipt["gasUsed"]),
                         len(bytes(sent)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outputs", type=int, nargs="*", default=[16, GPT2_LOGITS], help="output lengths (bytes)")
    ap.add_argument("--leaves", type=int, nargs="*", default=[1, 10, 100], help="entry batch sizes")
    args = ap.parse_args(argv)
    print("| output bytes | leaves | postResult | postEntries per leaf, outputs in blobs | ... in calldata "
          "| postBatch per leaf | rejectEntry (lying output) | its calldata bytes |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for length in args.outputs:
        for n in args.leaves:
            if length * n > 4_000_000:
                continue   # more than a block's worth of blobs or calldata
            g = measure(length, n)
            cd = "over the gas limit" if g.entries_calldata is None else f"{g.entries_calldata:,}"
            pb = "over the gas limit" if g.batch is None else f"{g.batch:,}"
            print(f"| {length:,} | {n} | {g.post_result:,} | {g.entries_elsewhere:,} | {cd} | {pb} | {g.reject:,} "
                  f"| {g.reject_bytes:,} |")


if __name__ == "__main__":
    main()
