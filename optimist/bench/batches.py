"""Gas per inference with batched results (docs/game-rules.md §3a) and batched requests (§3b), real MIPS.sol.

One inference = its request, its result and its finalization. Batched results (eth-tester): `single` is
request + postResult + finalize; `batch_N` is N requests + one postBatch of N claims + one finalizeBatch, divided
by N. Batched requests (anvil, `--entries`): `calldata_N` is one requestBatchData of N inputs + one postEntries of N
leaves with the outputs in the calldata + one finalizeEntries, divided by N; `blobs_N` the same with requestBatch
and postEntries carrying the inputs / outputs in EIP-4844 blobs (`blob_gas` beside it: blob gas per inference,
131,072 per blob). Then the disputes, on a batch of the largest size: today's path to a game (request, postResult,
openGame on the single result) beside a game on a leaf of a result batch (postBatch; Optimist.disputeLeaf writes
the leaf's result record then) and on a leaf of an entry batch (disputeLeaf also creates the entry's request: its
initial state is computed then), and rejectEntry (a leaf contradicting its final state). Every claim is a true
result of the model (VM runs of a few distinct inputs, cycled over the requests: the gas depends on the claims'
sizes and bytes, not on which input they answer).

`--whole-disputes N`: one lie disputed to its end by the real daemons (anvil), posted alone and as a leaf of a batch
of N: the gas of every game transaction by function (measure_whole_disputes).

`--daemons N`: the operator and challenger daemons on a request batch of N inputs in blobs, the outputs posted in
blobs and then in the calldata (measure_daemon_entries): gas per inference as the daemons send it, and the
challenger's time to check the N leaves.

    python -m optimist.bench.batches MODEL.mdnn [--sizes 1,10,100] [--entries | --daemons N | --whole-disputes N] [--json]
    (the bench measures the MNIST MLP: optimist convert examples/models/mlp_digits.onnx -o mlp.mdnn)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

FEE = 10**15
DISTINCT_INPUTS = 4


def measure_batch_gas(mdnn: Path, sizes: tuple[int, ...] = (1, 10, 100), seed: int = 7) -> dict[str, int]:
    """{"single_request", "single_result", "single_finalize", "single", "batch_N_request", ..., "batch_N"}:
    gas per inference (rounded down), for the model in `mdnn` on a fresh eth-tester chain."""
    from challenger.models import MinidnnModel, Trace
    from contracts.batches import Claim
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
        leaves = system.batch_posted(batch_id, system.last_receipt["blockNumber"])[0]
        advance_time(w3, 61)
        system.finalize_batch(batch_id, leaves)
        finalize = gas()
        out.update({f"batch_{n}_request": request // n, f"batch_{n}_result": result // n,
                    f"batch_{n}_finalize": finalize // n, f"batch_{n}": (request + result + finalize) // n})
    return out


def measure_entry_gas(mdnn: Path, sizes: tuple[int, ...] = (1, 10, 100), seed: int = 7,
                      hardfork: str | None = None) -> dict[str, int]:
    """{"calldata_N_request", ..., "calldata_N", "blobs_N_request", ..., "blobs_N", "blobs_N_blob_gas",
    "open_game", "dispute_leaf", "reject_entry"}: gas per inference (rounded down) with request batches, on a
    fresh anvil (`hardfork`, default: anvil's latest; from Prague on, EIP-7623 prices calldata-heavy transactions
    at up to 40 gas per non-zero byte), for the model in `mdnn`."""
    from eth_account import Account

    from challenger.models import MinidnnModel, Trace
    from contracts.batches import Claim, EntryLeaf, Leaf, input_proof, input_roots, leaf_proof
    from contracts.chain import ANVIL_MNEMONIC, Anvil
    from contracts.system import advance_time, deploy_system
    from mipsvm.memory import keccak256

    Account.enable_unaudited_hdwallet_features()
    keys = [Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key for i in range(3)]
    model = MinidnnModel(mdnn)
    rng = np.random.default_rng(seed)
    inputs = [rng.random(model.image.input_length // 4, dtype=np.float32).tobytes() for _ in range(DISTINCT_INPUTS)]
    traces = [Trace(model, inp) for inp in inputs]

    def leaf(i: int, t: Trace, **fields: object) -> EntryLeaf:
        x = EntryLeaf(i, keccak256(t.final_packed), keccak256(t.output), t.steps, int(t.outcome), t.exit_code)
        return EntryLeaf(**{**x.__dict__, **fields})

    out: dict[str, int] = {}
    with Anvil(extra_args=("--hardfork", hardfork) if hardfork else ()) as node:
        w3 = node.web3()
        system = deploy_system(w3, challenge_window=60, clock=60)
        requester, operator, challenger = w3.eth.accounts[:3]
        model_id = system.register_model(model.image)

        def gas() -> tuple[int, int]:
            r = system.last_receipt
            assert r is not None
            return int(r["gasUsed"]), int(r.get("blobGasUsed", 0) or 0)

        def run(n: int, blobs: bool, lie_at: int | None = None) -> tuple[int, int, list[EntryLeaf], list[bytes]]:
            xs = [inputs[i % DISTINCT_INPUTS] for i in range(n)]
            ts = [traces[i % DISTINCT_INPUTS] for i in range(n)]
            outputs = [t.output if i != lie_at else t.output[::-1] for i, t in enumerate(ts)]   # a lie: another output
            leaves = [leaf(i, t, output_hash=keccak256(o)) for i, (t, o) in enumerate(zip(ts, outputs, strict=True))]
            if blobs:
                rb = system.request_batch_blobs(model_id, xs, FEE * n, keys[0])
            else:
                rb = system.request_batch_data(model_id, xs, FEE * n, sender=requester)
            req = gas()
            if blobs:
                batch_id = system.post_entries(rb, leaves, private_key=keys[1], blob_outputs=outputs)
            else:
                batch_id = system.post_entries(rb, leaves, outputs, sender=operator)
            res = gas()
            name = f"{'blobs' if blobs else 'calldata'}_{n}"
            out.update({f"{name}_request": req[0] // n, f"{name}_result": res[0] // n})
            if blobs:
                out[f"{name}_blob_gas"] = (req[1] + res[1]) // n
            return rb, batch_id, leaves, xs

        run(2, False)   # warm-up: counters and the operator's credit slot exist from now on
        advance_time(w3, 61)
        system.finalize_entries(system.batches.functions.batchCount().call())
        for blobs in (False, True):
            for n in sizes:
                _, batch_id, _, _ = run(n, blobs)
                advance_time(w3, 61)
                system.finalize_entries(batch_id)
                name = f"{'blobs' if blobs else 'calldata'}_{n}"
                out[f"{name}_finalize"] = gas()[0] // n
                out[name] = sum(out[f"{name}_{p}"] for p in ("request", "result", "finalize"))
        # disputes. Today's path first: a request, its result and a game on it (the first game also creates the
        # game counter and the challenger's credit slot, which every later dispute only rewrites)
        t = traces[0]
        for key in ("warm", ""):
            rid = system.request(model_id, inputs[0], FEE, sender=requester)
            out["single_request"] = gas()[0]
            result_id = system.post_result(rid, t.output, t.final_packed, t.output_proof(), sender=operator)
            out["single_result"] = gas()[0]
            system.open_game(result_id, sender=challenger)
            out[key or "open_game"] = gas()[0]
        del out["warm"]
        # a leaf of a batch of results on existing requests (postBatch, §3a)
        n = max(sizes)
        rids = [system.request(model_id, inputs[i % DISTINCT_INPUTS], FEE, sender=requester) for i in range(n)]
        ts = [traces[i % DISTINCT_INPUTS] for i in range(n)]
        claims = [Claim(r, x.output, x.final_packed, x.output_proof()) for r, x in zip(rids, ts, strict=True)]
        batch_id = system.post_batch(model_id, claims, sender=operator)
        leaves = [Leaf(r, keccak256(x.final_packed), keccak256(x.output), x.steps, int(x.outcome), x.exit_code)
                  for r, x in zip(rids, ts, strict=True)]
        system.dispute_leaf(batch_id, 0, leaves[0], leaf_proof([x.hash() for x in leaves], 0), sender=challenger)
        out["dispute_result_leaf"] = gas()[0]
        # an entry batch: a game on an honest leaf (its request created then) and a rejection without a game
        rb, batch_id, entries, xs = run(n, False, lie_at=1 if n > 1 else None)
        rb_leaves = [x.leaf(rb) for x in entries]
        hashes = [x.hash() for x in rb_leaves]
        roots = input_roots(xs, model.image.input_length)
        system.dispute_leaf(batch_id, 0, rb_leaves[0], leaf_proof(hashes, 0), sender=challenger,
                            input_root=roots[0], input_proof=input_proof(roots, 0))
        out["dispute_leaf"] = gas()[0]
        if n > 1:
            t = traces[1 % DISTINCT_INPUTS]
            img = model.image
            region = t.final.memory.read(img.output_base, img.output_size)
            system.reject_entry(batch_id, 1, rb_leaves[1], leaf_proof(hashes, 1), roots[1], input_proof(roots, 1),
                                t.final_packed, region, t.output_proof(), sender=challenger)
            out["reject_entry"] = gas()[0]
    return out


def measure_daemon_entries(mdnn: Path, n: int = 100, images: list[bytes] | None = None) -> dict[str, float]:
    """The daemons on request batches of `n` inputs in blobs, on a fresh anvil: an operator daemon answers one
    batch with the outputs in blobs and another (the same inputs) in the calldata, and finalizes both at the window;
    a challenger daemon checks each batch. {"blobs_result", "blobs_finalize", "blobs_blob_gas", "calldata_result",
    "calldata_finalize"}: gas per inference of the operator's postEntries / finalizeEntries (blob gas beside);
    "request", "request_blob_gas": the requestBatch per inference; "blobs_check_s", "calldata_check_s": seconds from
    the batch's post until the challenger has judged all `n` leaves (reading inputs and outputs, its VM runs)."""
    import time

    from eth_account import Account

    from challenger.models import MinidnnModel
    from contracts.chain import ANVIL_MNEMONIC, Anvil
    from optimist.world import World

    Account.enable_unaudited_hdwallet_features()
    requester = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/0").key
    model = MinidnnModel(mdnn)
    if images is None:
        rng = np.random.default_rng(7)
        images = [rng.random(model.image.input_length // 4, dtype=np.float32).tobytes() for _ in range(n)]
    out: dict[str, float] = {}
    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=600, clock=300)
        s = world.system

        def receipt_of(ev_name: str, key: str, value: int) -> dict:
            [ev] = [e for e in s.events_since(world.deploy_block) if e.name == ev_name and e[key] == value]
            return dict(world.w3.eth.get_transaction_receipt(ev.tx_hash))

        def play(mode: str, xs: list[bytes]) -> dict[str, float]:
            """One request batch of `xs` answered by a fresh operator daemon posting its outputs in `mode`, checked
            by a fresh challenger daemon, finalized at the window: its figures per inference."""
            k = len(xs)
            got: dict[str, float] = {}
            op = world.operator(name=f"op-{mode}", entry_outputs=mode)
            rb = s.request_batch_blobs(world.model_id, xs, FEE * k, requester)
            r = receipt_of("RequestBatchPosted", "requestBatchId", rb)
            got["request"], got["request_blob_gas"] = r["gasUsed"] // k, int(r.get("blobGasUsed", 0) or 0) // k
            world.run_until(lambda: all(s.entry_taken(rb, i) for i in range(k)), [op], max_ticks=10 * k)
            [posted] = [e for e in s.events_since(world.deploy_block)
                        if e.name == "EntriesPosted" and e["requestBatchId"] == rb]
            r = dict(world.w3.eth.get_transaction_receipt(posted.tx_hash))
            got[f"{mode}_result"] = r["gasUsed"] // k
            if mode == "blobs":
                got["blobs_blob_gas"] = int(r.get("blobGasUsed", 0) or 0) // k
            ch = world.challenger(name=f"ch-{mode}")
            t0 = time.perf_counter()
            world.run_until(lambda: sum(row["verdict"] is not None for row in ch.store.results()
                                        if row["operator"] == op.me) == k, [ch], max_ticks=10 * k)
            got[f"{mode}_check_s"] = round(time.perf_counter() - t0, 2)
            world.advance_time(601)
            batch_id = posted["batchId"]
            world.run_until(lambda: s.batch(batch_id).settled, [op])
            got[f"{mode}_finalize"] = receipt_of("EntriesFinalized", "batchId", batch_id)["gasUsed"] // k
            world.settle([op, ch])
            return got

        play("calldata", images[:1])   # warm-up: the contracts' counters exist from now on (a first write is dearer)
        for mode in ("blobs", "calldata"):
            out.update(play(mode, images))
    return out


GAME_FUNCTIONS = ("openGame", "disputeLeaf", "postMidpoint", "respond", "enterNode", "prove", "timeout")


def measure_whole_disputes(mdnn: Path, n: int = 100, lie_at: int = 0, seed: int = 7) -> dict[str, Any]:
    """One lie disputed to its end by the real daemons, three times, each on a fresh anvil: posted alone
    (postResult; the game opens with openGame), as leaf `lie_at` of a postBatch of `n` results and as leaf `lie_at`
    of a postEntries answering a request batch of `n` inputs in calldata, the others true (disputeLeaf; for an entry
    it also creates the entry's request). The same input and the same lie, so the same bisection: {"single":
    {function: gas}, "leaf": {...}, "entry": {...}, "<kind>_total", "<kind>_transactions", "steps"}: the gas of
    every game transaction either side sent, summed by function."""
    from challenger.models import LyingTrace, MinidnnModel, Trace
    from contracts.chain import Anvil
    from contracts.system import GameStatus
    from optimist.world import World

    model = MinidnnModel(mdnn)
    rng = np.random.default_rng(seed)
    inputs = [rng.random(model.image.input_length // 4, dtype=np.float32).tobytes() for _ in range(n + 1)]
    lying_input, warm_input = inputs[lie_at], inputs.pop()

    def lie(honest: Trace) -> LyingTrace:   # the same lie both times; the truth on every other input
        return LyingTrace(honest) if honest.input == lying_input else LyingTrace(honest, edit=lambda st: None)

    def dispute(kind: str, requests: list[bytes]) -> tuple[dict[str, int], int, int]:
        """({function: gas}, transactions, steps) of the game on the lie among `requests`."""
        with Anvil() as node:
            w3 = node.web3()
            # one second per block: a move's clock write then always changes its slot (two moves in one second
            # would rewrite it unchanged, 100 gas instead of 2,900), so both games' gas is deterministic
            answer = w3.provider.make_request("anvil_setBlockTimestampInterval", [1])
            if answer.get("error"):
                raise RuntimeError(f"anvil refused anvil_setBlockTimestampInterval: {answer['error']}")
            world = World.deploy(w3, model, window=3600, clock=1800, engine="fast")
            liar = world.operator(dishonest=True, name="liar", batch_interval=0 if kind == "leaf" else None,
                                  max_batch=max(n, 1))
            liar.lie = lie
            ch = world.challenger(name="challenger")
            # warm-up: a true result posted alone (so the result counter's slot exists, as on any live deployment)
            warm = world.operator(name="warm-up")
            rid = world.request(warm_input, fee=FEE)
            world.run_until(lambda: world.system.get_request(rid).result_id != 0, [warm])
            if kind == "entry":
                world.system.request_batch_data(world.model_id, requests, FEE * len(requests))
            else:
                for x in requests:
                    world.request(x, fee=FEE)
            world.run_until(lambda: any(g["status"] != "active" for g in ch.store.games()), [liar, ch],
                            max_ticks=20_000)
            games = ch.store.games()
            if len(games) != 1 or world.system.game(games[0]["game_id"]).status != GameStatus.CHALLENGER_WON:
                raise RuntimeError(f"{kind}: expected one game, won by the challenger; got {games}")
            txs = [t for s in (liar.store, ch.store) for t in s.txs("mined") if t.function in GAME_FUNCTIONS]
            gas: dict[str, int] = {}
            for tx in txs:
                gas[tx.function] = gas.get(tx.function, 0) + int(tx.gas_used or 0)
            return gas, len(txs), int(ch.store.game(games[0]["game_id"])["steps"])

    out: dict[str, Any] = {}
    for kind, requests in (("single", [lying_input]), ("leaf", inputs), ("entry", inputs)):
        gas, count, steps = dispute(kind, requests)
        out.update({kind: gas, f"{kind}_total": sum(gas.values()), f"{kind}_transactions": count, "steps": steps})
    return out


def _whole_text(whole: dict[str, Any], n: int) -> str:
    """measure_whole_disputes' figures as a table of gas by function."""
    kinds = ("single", "leaf", "entry")
    lines = [f"one lie disputed to its end ({whole['steps']:,} VM steps), gas by function:",
             f"{'':14} {'posted alone':>13} {'leaf of ' + str(n):>13} {'entry of ' + str(n):>13}"]
    lines += [f"{f:14}" + "".join(f" {whole[k].get(f, 0):>13,}" for k in kinds) for f in GAME_FUNCTIONS
              if any(f in whole[k] for k in kinds)]
    lines.append(f"{'whole game':14}" + "".join(f" {whole[k + '_total']:>13,}" for k in kinds) +
                 f"  ({', '.join(str(whole[k + '_transactions']) for k in kinds)} transactions)")
    return "\n".join(lines)


def _daemons_text(found: dict[str, Any], n: int) -> str:
    """measure_daemon_entries' figures, a line per way the outputs travel."""
    lines = [f"request batch of {n} (inputs in blobs): {found['request']:,} gas per inference "
             f"+ {found['request_blob_gas']:,} blob gas"]
    for mode in ("blobs", "calldata"):
        blob = f" + {found['blobs_blob_gas']:,} blob gas" if mode == "blobs" else ""
        lines.append(f"outputs in {mode:8}: postEntries {found[f'{mode}_result']:,}{blob}, finalizeEntries "
                     f"{found[f'{mode}_finalize']:,} gas per inference; challenger checked all in "
                     f"{found[f'{mode}_check_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a .mdnn model whose input is float32")
    parser.add_argument("--sizes", default="1,10,100", help="batch sizes, comma-separated")
    parser.add_argument("--entries", action="store_true",
                        help="batched requests on anvil instead (calldata and blobs, disputes)")
    parser.add_argument("--hardfork", help="anvil's hardfork for --entries (default: anvil's latest)")
    parser.add_argument("--daemons", type=int, metavar="N",
                        help="the daemons on a request batch of N entries, outputs in blobs vs calldata (anvil)")
    parser.add_argument("--whole-disputes", type=int, metavar="N",
                        help="one lie disputed to its end by the daemons, posted alone and as a leaf of a batch of N "
                             "(anvil): the gas of every game transaction, by function")
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
    for value, flag in ((args.whole_disputes, "--whole-disputes"), (args.daemons, "--daemons")):
        if value is not None and not 1 <= value <= 1024:
            parser.error(f"{flag}: a batch has 1..1024 leaves")
    if args.whole_disputes is not None:
        whole = measure_whole_disputes(args.model, args.whole_disputes)
        print(json.dumps(whole, indent=1) if args.json else _whole_text(whole, args.whole_disputes))
        return 0
    if args.daemons is not None:
        found = measure_daemon_entries(args.model, args.daemons)
        print(json.dumps(found, indent=1) if args.json else _daemons_text(found, args.daemons))
        return 0
    if args.entries:
        figures = measure_entry_gas(args.model, sizes, hardfork=args.hardfork)
    else:
        figures = measure_batch_gas(args.model, sizes)
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    if args.entries:
        print(f"{'':12} {'request':>9} {'result':>9} {'finalize':>9} {'total':>9} {'blob gas':>9}")
        for name in [f"{v}_{n}" for v in ("calldata", "blobs") for n in sizes]:
            parts = [figures[f"{name}_{p}"] for p in ("request", "result", "finalize")]
            blob = figures.get(f"{name}_blob_gas")
            print(f"{name:12} {parts[0]:>9,} {parts[1]:>9,} {parts[2]:>9,} {figures[name]:>9,} "
                  f"{'' if blob is None else format(blob, ','):>9}")
        f = figures
        print(f"today's path to a game: request {f['single_request']:,} + postResult {f['single_result']:,} + "
              f"openGame {f['open_game']:,} = {f['single_request'] + f['single_result'] + f['open_game']:,} gas")
        print(f"dispute of one leaf (batch of {max(sizes)}): of a result batch {f['dispute_result_leaf']:,}, "
              f"of an entry batch {f['dispute_leaf']:,} (its request created then)"
              + (f"; rejectEntry {f['reject_entry']:,}" if "reject_entry" in f else ""))
        return 0
    print(f"{'':10} {'request':>9} {'result':>9} {'finalize':>9} {'total':>9}")
    for name in ["single", *(f"batch_{n}" for n in sizes)]:
        parts = [figures[f"{name}_{p}"] for p in ("request", "result", "finalize")]
        print(f"{name:10} {parts[0]:>9,} {parts[1]:>9,} {parts[2]:>9,} {figures[name]:>9,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
