"""The system wrapper on a real JSON-RPC node (anvil): deploy, revert decoding, events, time travel."""

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

from contracts.chain import Anvil
from contracts.compile import compile_contracts
from contracts.system import (
    ContractRevert,
    GameStatus,
    ModelImage,
    ResultStatus,
    advance_time,
    deploy_contract,
    deploy_system,
)
from mipsvm.layout import INPUT_BASE
from mipsvm.regions import initial_packed_state

pytestmark = pytest.mark.anvil


def test_system_on_anvil() -> None:
    image = toy_image()
    model = ModelImage.from_memory(image, entry=ENTRY, input_length=INPUT_LEN, output_length=OUTPUT_LEN)
    inp, out = toy_input(), true_output(toy_input())
    final = final_memory(image, inp, out)
    with Anvil() as node:
        w3 = node.web3()
        mock = deploy_contract(w3, compile_contracts(FIXTURES)["MockMIPS"], 8, final.root(), 0)
        system = deploy_system(w3, challenge_window=100, clock=50, mips_address=mock.address)
        operator, challenger = w3.eth.accounts[1], w3.eth.accounts[2]
        model_id = system.register_model(model)
        with pytest.raises(ContractRevert) as exc:
            system.request(model_id, inp[:-2])
        assert exc.value.name == "WrongInputLength" and exc.value.fields == {"expected": 100, "got": 98}
        block = w3.eth.block_number
        rid = system.request(model_id, inp, fee=1234)
        start = image.copy()
        start.write(INPUT_BASE, inp)
        init = initial_packed_state(start.root(), ENTRY)
        assert system.get_request(rid).initial_state_hash == w3.keccak(init)
        final_state = with_field(init, mem_root=final.root(), exited=1, step=8)
        res_id = system.post_result(rid, out, final_state, system.output_proof(model_id, final),
                                    sender=operator)
        gid = system.open_game(res_id, sender=challenger)
        with pytest.raises(ContractRevert, match="ClockNotExpired"):
            system.timeout(gid)
        advance_time(w3, 51)
        system.timeout(gid)
        assert system.game(gid).status == GameStatus.CHALLENGER_WON
        assert system.result(res_id).status == ResultStatus.REJECTED
        names = [e.name for e in system.events_since(block + 1)]
        assert names == ["RequestCreated", "ResultPosted", "GameOpened", "GameResolved", "ResultRejected"]
        before = w3.eth.get_balance(challenger)
        amount = system.withdraw(sender=challenger)
        p = system.params
        assert amount == p.challenge_bond + p.result_bond - p.burn_share(p.result_bond)
        assert w3.eth.get_balance(challenger) > before


def test_system_with_a_local_key_on_anvil() -> None:
    """Daemons sign with their own keys: web3's signing middleware makes the wrapper's transact work."""
    from eth_account import Account
    from web3.middleware import SignAndSendRawMiddlewareBuilder

    model = ModelImage.from_memory(toy_image(), entry=ENTRY, input_length=INPUT_LEN, output_length=OUTPUT_LEN)
    with Anvil() as node:
        w3 = node.web3()
        key = Account.create()
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": key.address, "value": 10**18})
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(key), layer=0)
        mock = deploy_contract(w3, compile_contracts(FIXTURES)["MockMIPS"], 8, bytes(32), 0)
        system = deploy_system(w3, challenge_window=100, clock=50, mips_address=mock.address)
        model_id = system.register_model(model, sender=key.address)
        rid = system.request(model_id, toy_input(), fee=5, sender=key.address)
        assert system.get_request(rid).requester == key.address
        with pytest.raises(ContractRevert, match="WrongInputLength"):
            system.request(model_id, b"", sender=key.address)
