"""The daemons' building blocks without a chain: SQLite store (write-ahead rules, schema version, lock),
keys, model specs, and traces (honest and lying runs agree with the reference stepper)."""

from __future__ import annotations

import sqlite3

import pytest

from challenger.models import LyingTrace, ModelError, Run, Trace, parse_model_spec, toy_model
from challenger.store import SCHEMA_VERSION, Store, StoreError
from mipsvm import stepper
from mipsvm.memory import keccak256
from mipsvm.stepper import verify_step
from optimist.keys import KeyLoadError, dev_accounts, from_env, from_keystore, write_keystore


@pytest.fixture(scope="module")
def toy():
    return toy_model(engine="stepper")


@pytest.fixture(scope="module")
def trace(toy) -> Trace:
    return Trace(toy, bytes(range(64)), interval=2048, engine="stepper")


# ---- store ------------------------------------------------------------------------------------

def test_write_ahead_transaction_lifecycle(tmp_path) -> None:
    store = Store(tmp_path / "s.db")
    rec = store.record_signed("midpoint:1:0:10", "postMidpoint", "0xabc", 7, b"raw", b"h" * 32)
    assert rec.status == "signed" and rec.nonce == 7
    with pytest.raises(StoreError, match="already exists"):
        store.record_signed("midpoint:1:0:10", "postMidpoint", "0xabc", 8, b"raw2", b"i" * 32)
    store.update_tx("midpoint:1:0:10", "sent")
    assert [t.key for t in store.txs(("signed", "sent"))] == ["midpoint:1:0:10"]
    store.update_tx("midpoint:1:0:10", "reverted", gas_used=30_000, fee_paid=30_000 * 7, block=5,
                    error="WrongPhase")
    again = store.record_signed("midpoint:1:0:10", "postMidpoint", "0xabc", 8, b"raw3", b"j" * 32)
    assert again.status == "signed" and again.nonce == 8          # the decision is taken again
    assert len(store.txs()) == 2                                  # the reverted attempt keeps its gas
    assert store.gas_summary()["postMidpoint"] == {"count": 1, "gas": 30_000, "fee": 210_000}
    assert store.next_nonce("0xabc") == 9
    store.close()


def test_state_survives_reopening(tmp_path) -> None:
    store = Store(tmp_path / "s.db")
    store.add_request(3, 1, "0xreq", 10**16, b"\x01" * 64, b"i" * 32, 12)
    store.add_result(4, 3, "0xop", b"f" * 32, 1000, 99, b"\x02" * 32, 13)
    store.add_game(5, 4, "0xch", "challenger", 1000, 14)
    store.add_move(5, "0xop", "midpoint", 0, 1000, 500, b"m" * 32, 15, b"t" * 32)
    store.set_cursor(15)
    store.close()
    store = Store(tmp_path / "s.db")
    assert store.cursor() == 15
    assert bytes(store.request(3)["input"]) == b"\x01" * 64
    assert store.result(4)["deadline"] == 99
    assert store.games("active")[0]["game_id"] == 5
    assert store.moves(5)[0]["mid"] == 500
    store.end_game(5, "challenger_won", "0xch", "proof")
    store.end_game(5, "challenger_won", None, None)               # a later status check keeps the reason
    assert store.game(5)["reason"] == "proof"
    store.close()


def test_newer_schema_is_refused(tmp_path) -> None:
    Store(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version"):
        Store(tmp_path / "s.db")


# ---- keys -------------------------------------------------------------------------------------

def test_keys_from_env_and_keystore(tmp_path, monkeypatch) -> None:
    acct = dev_accounts(2)[1]
    assert acct.address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"    # anvil's dev key #1
    monkeypatch.setenv("K", "0x" + acct.key.hex().removeprefix("0x"))
    assert from_env("K").address == acct.address
    monkeypatch.setenv("K", "zz")
    with pytest.raises(KeyLoadError, match="valid private key"):
        from_env("K")
    with pytest.raises(KeyLoadError, match="UNSET_VAR is not set"):
        from_env("UNSET_VAR")
    ks = write_keystore(acct, tmp_path / "ks.json", "pw", kdf="pbkdf2", iterations=1000)
    assert oct(ks.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("PW", "pw")
    assert from_keystore(ks, "PW").address == acct.address
    monkeypatch.setenv("PW", "nope")
    with pytest.raises(KeyLoadError, match="wrong password"):
        from_keystore(ks, "PW")
    with pytest.raises(KeyLoadError, match="does not exist"):
        from_keystore(tmp_path / "missing.json", "PW")


def test_model_specs(tmp_path) -> None:
    assert parse_model_spec("toy").image.input_length == 64
    with pytest.raises(ModelError, match="does not exist"):
        parse_model_spec(str(tmp_path / "m.mdnn"))
    with pytest.raises(ModelError, match="cannot serve"):
        parse_model_spec("model.onnx")


# ---- traces -----------------------------------------------------------------------------------

def test_trace_hashes_match_the_stepper(toy, trace: Trace) -> None:
    state = toy.initial_state(bytes(range(64)))
    for target in (0, 1, 2047, 2048, 2049, 10_000, trace.steps - 1):
        while state.step < target:
            stepper.step(state)
        assert trace.hash_at(target) == state.hash(), target
    assert trace.hash_at(trace.steps + 100) == trace.final_hash
    assert trace.output == toy.infer(bytes(range(64)))


def test_witness_verifies_statelessly(trace: Trace) -> None:
    for s in (0, 777, trace.steps - 1):
        w = trace.witness_at(s)
        assert keccak256(w.state) == trace.hash_at(s)
        assert verify_step(w.state, w.proof) == trace.hash_at(s + 1) == w.post_hash


def test_lying_trace_is_consistent_and_loses_at_its_divergence(trace: Trace) -> None:
    lie = LyingTrace(trace)
    k = lie.diverge
    assert 0 < k < trace.steps and lie.output != trace.output and lie.exit_code == 0
    assert lie.hash_at(0) == trace.hash_at(0) and lie.hash_at(k - 1) == trace.hash_at(k - 1)
    assert lie.hash_at(k) != trace.hash_at(k)
    # the liar's own claimed step k is not what one true step from k - 1 gives
    assert verify_step(*_witness(trace, k - 1)) != lie.hash_at(k)
    # its later states are a real run from its corrupted state
    st = lie.state_at(k)
    stepper.step(st)
    assert st.hash() == lie.hash_at(k + 1)
    assert keccak256(lie.final_packed) == lie.final_hash == lie.hash_at(lie.steps)


def _witness(trace: Trace, step: int) -> tuple[bytes, bytes]:
    w = trace.witness_at(step)
    return w.state, w.proof


def test_run_rejects_bad_arguments(toy) -> None:
    with pytest.raises(ValueError, match="interval"):
        Run(toy.initial_state(bytes(64)), 0)
    with pytest.raises(ValueError, match="unknown VM engine"):
        Run(toy.initial_state(bytes(64)), 1024, engine="qemu")
    with pytest.raises(ModelError, match="exactly 64"):
        toy.initial_state(bytes(10))


def test_fast_engine_agrees_with_the_stepper(toy, trace: Trace) -> None:
    fast = Trace(toy, bytes(range(64)), interval=2048, engine="fast")
    assert fast.steps == trace.steps and fast.final_hash == trace.final_hash
    for s in (0, 1, 5, 2047, 2048, 2049, 17_855, 17_856, 30_001):
        assert fast.hash_at(s) == trace.hash_at(s), s
