"""Request and entry batches with EIP-4844 blobs on anvil (docs/game-rules.md §3b): the inputs and outputs travel
in blobs, anyone reads them back from the node, and a challenger disputes a lying leaf with the input bytes it
read from the request's blobs."""

from __future__ import annotations

import pytest
from contracts_world import (
    ENTRY,
    FIXTURES,
    INPUT_LEN,
    OUTPUT_LEN,
    final_memory,
    toy_image,
    toy_input,
    true_output,
    with_field,
)

from contracts.batches import EntryLeaf, input_proof, input_roots, leaf_proof
from contracts.blobs import fetch_blobs, unpack_blobs, versioned_hash
from contracts.chain import ANVIL_MNEMONIC, Anvil
from contracts.compile import compile_contracts
from contracts.system import (
    GameStatus,
    ModelImage,
    RequestStatus,
    advance_time,
    deploy_contract,
    deploy_system,
)
from mipsvm.layout import INPUT_BASE
from mipsvm.memory import keccak256
from mipsvm.regions import initial_packed_state

pytestmark = pytest.mark.anvil
FEE = 10**15
HALT = 8


def keys(n: int) -> list[bytes]:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key for i in range(n)]


def test_blob_batches_on_anvil() -> None:
    image = toy_image()
    model = ModelImage.from_memory(image, entry=ENTRY, input_length=INPUT_LEN, output_length=OUTPUT_LEN)
    out = true_output(toy_input())
    final = final_memory(image, toy_input(), out)
    key = keys(3)
    with Anvil() as node:
        w3 = node.web3()
        mock = deploy_contract(w3, compile_contracts(FIXTURES)["MockMIPS"], HALT, final.root(), 0)
        s = deploy_system(w3, challenge_window=100, clock=50, mips_address=mock.address)
        requester, operator, challenger = w3.eth.accounts[:3]
        model_id = s.register_model(model)
        xs = [toy_input(seed) for seed in range(1, 5)]
        rb = s.request_batch_blobs(model_id, xs, 4 * FEE, key[0])
        receipt = s.last_receipt
        assert receipt["type"] == 3 and receipt["blobGasUsed"] == 131072
        posted = next(e for e in s.events_since(receipt["blockNumber"]) if e.name == "RequestBatchPosted")
        # anyone reads the inputs back from the node and checks them against the event
        blobs = fetch_blobs(w3, receipt["transactionHash"])
        assert [bytes(h) for h in posted["blobHashes"]] == [versioned_hash(b) for b in blobs]
        read = unpack_blobs(blobs)
        roots = input_roots(read, len(xs[0]))
        assert read == xs and roots == [bytes(h) for h in posted["inputRoots"]]

        def state(inp: bytes, root: bytes) -> bytes:
            start = image.copy()
            start.write(INPUT_BASE, inp)
            return with_field(initial_packed_state(start.root(), ENTRY), mem_root=root, exited=1, step=HALT)

        leaves = [EntryLeaf(i, keccak256(state(x, final.root() if i != 2 else keccak256(b"lie"))), keccak256(out),
                            HALT, 0, 0) for i, x in enumerate(read)]
        batch_id = s.post_entries(rb, leaves, private_key=key[1], blob_outputs=[out] * 4)
        receipt = s.last_receipt
        ev = next(e for e in s.events_since(receipt["blockNumber"]) if e.name == "EntriesPosted")
        assert unpack_blobs(fetch_blobs(w3, receipt["transactionHash"])) == [out] * 4
        assert len(ev["blobHashes"]) == 1 and ev["operator"] == operator
        # the challenger disputes the lie with the input root it checked against the request's blobs
        tree = [x.leaf(rb) for x in leaves]
        gid = s.dispute_leaf(batch_id, 2, tree[2], leaf_proof([x.hash() for x in tree], 2), sender=challenger,
                             input_root=roots[2], input_proof=input_proof(roots, 2))
        req = s.get_request(tree[2].request_id)
        assert req.initial_state_hash == s.initial_state_hash(model_id, xs[2]) and req.requester == requester
        advance_time(w3, 51)                   # the liar does not defend
        s.timeout(gid)
        assert s.game(gid).status == GameStatus.CHALLENGER_WON
        assert s.get_request(tree[2].request_id).status == RequestStatus.OPEN
        advance_time(w3, 101)
        s.finalize_entries(batch_id)
        p = s.params
        assert s.balance(operator) == 3 * (FEE + p.result_bond)
        assert s.balance(challenger) == p.challenge_bond + p.result_bond - p.burn_share(p.result_bond)
