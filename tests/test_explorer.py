"""The explorer's data layer on eth-tester (real MIPS.sol game on the tiny C program) and its HTTP server."""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
from typing import Any

import pytest
from click.testing import CliRunner
from contracts_world import VMRun, deploy_tiny, load_tiny, make_world, play, toy_input

from contracts.system import Phase, advance_time
from mipsvm import isa
from mipsvm.layout import OUTPUT_BASE
from mipsvm.memory import keccak256
from mipsvm.state import decode_state
from mipsvm.stepper import step_with_witness
from optimist.cli import main
from optimist.explorer import ChainView, Explorer
from optimist.explorer.data import decode_output, grey_png, summarize_input

INPUT = bytes((i * 11 + 3) % 256 for i in range(64))
OUT_LEN = 16


@pytest.fixture(scope="module")
def chain() -> dict[str, Any]:
    """The tiny program on the real MIPS.sol: request 1 answered by a lie (caught at a mid-run step, game 1),
    then honestly (finalized); request 2 open; request 3 posted and still in its window."""
    program = load_tiny()
    truth = VMRun.record(program, INPUT)
    system, model_id, acct = deploy_tiny(program, OUT_LEN)
    operator, challenger, honest = acct[1], acct[2], acct[3]
    rid = system.request(model_id, INPUT, fee=10**16)
    n, k0 = truth.steps, truth.steps // 2 + 1
    fake_mem = truth.final.memory.copy()
    true_out = fake_mem.read(OUTPUT_BASE, OUT_LEN)
    fake_out = true_out[:-1] + bytes([true_out[-1] ^ 1])
    fake_mem.write(OUTPUT_BASE, fake_out)
    fake_final = truth.final.encode(fake_mem.root())
    lie_id = system.post_result(rid, fake_out, fake_final, system.output_proof(model_id, fake_mem), sender=operator)

    def claim(k: int) -> bytes:
        if k < k0:
            return truth.hashes[k]
        return keccak256(fake_final) if k == n else keccak256(b"lie" + k.to_bytes(8, "big"))

    gid = system.open_game(lie_id, sender=challenger)
    rounds = 0
    while (g := system.game(gid)).phase != Phase.PROOF:
        if g.phase == Phase.MIDPOINT:
            system.post_midpoint(gid, g.mid, claim(g.mid), sender=operator)
            rounds += 1
        else:
            system.respond(gid, g.mid, g.mid_hash == truth.hashes[g.mid], sender=challenger)
    witness = step_with_witness(truth.state_at(k0 - 1))
    system.prove(gid, witness.state, witness.proof, sender=challenger)
    advance_time(system.w3, 2)
    good_id = system.post_result(rid, true_out, truth.final.encode(),
                                 system.output_proof(model_id, truth.final.memory), sender=honest)
    advance_time(system.w3, 601)
    system.finalize(good_id)
    system.request(model_id, INPUT, fee=2 * 10**16)
    rid3 = system.request(model_id, INPUT, fee=3 * 10**16)
    system.post_result(rid3, true_out, truth.final.encode(), system.output_proof(model_id, truth.final.memory),
                       sender=honest)
    return {"system": system, "view": ChainView(system), "truth": truth, "k0": k0, "rounds": rounds,
            "witness": witness, "game": gid, "lie": lie_id, "good": good_id, "fake_out": fake_out,
            "true_out": true_out, "accounts": (operator, challenger, honest)}


def test_overview_lists_everything(chain) -> None:
    d = chain["view"].overview()
    assert d["counts"] == {"models": 1, "requests": 3, "results": 3, "games": 1, "request_batches": 0, "batches": 0}
    assert [r["status"] for r in d["requests"]] == ["finalized", "open", "posted"]
    assert [r["fee"] for r in d["requests"]] == [10**16, 2 * 10**16, 3 * 10**16]
    assert all(r["age"] is not None and r["age"] >= 0 for r in d["requests"])
    assert [r["status"] for r in d["results"]] == ["rejected", "finalized", "pending"]
    assert d["results"][2]["window_left"] > 0 and d["results"][0]["steps"] == chain["truth"].steps
    (g,) = d["games"]
    assert g["status"] == "challenger_won" and g["rounds"] == chain["rounds"] and "to_move" not in g
    m = d["models"][0]
    assert m["name"] == "test://tiny" and m["image_root"].startswith("0x") and m["input_length"] == 64
    operator, challenger, honest = chain["accounts"]
    roles = {b["account"]: b["roles"] for b in d["balances"]}
    assert roles[operator] == ["operator"] and roles[challenger] == ["challenger"]
    s = chain["system"]
    assert {b["account"]: b["credited"] for b in d["balances"]}[challenger] == s.balance(challenger) > 0
    assert d["burned"] == s.burned() > 0
    json.dumps(d)   # JSON-able as it is


def check_against_contract(view: ChainView) -> None:
    """The overview's event-derived rows equal the contract's own views of every id."""
    d, s = view.overview(), view.system
    assert (d["counts"]["requests"], d["counts"]["results"], d["counts"]["games"]) == s.counts()[1:]
    for r in d["requests"]:
        c = s.get_request(r["id"])
        assert (r["status"], r["fee"], r["requester"], r["model"], r["deadline"]) == \
            (c.status.name.lower(), c.fee, c.requester, c.model_id, c.deadline)
        if r["status"] != "open":
            assert r["result"] == c.result_id
    for r in d["results"]:
        c = s.result(r["id"])
        assert (r["status"], r["operator"], r["steps"], r["open_games"], r["outcome"], r["deadline"], r["request"]) \
            == (c.status.name.lower(), c.operator, c.steps, c.open_games, c.outcome.name.lower(), c.deadline,
                c.request_id)
    for g in d["games"]:
        c = s.game(g["id"])
        assert (g["status"], g["phase"], g["lo"], g["hi"], g["over_nodes"], g["result"], g["challenger"]) == \
            (c.status.name.lower(), c.phase.name.lower(), c.lo, c.hi, c.over_nodes, c.result_id, c.challenger)


def test_overview_agrees_with_the_contract(chain) -> None:
    check_against_contract(chain["view"])


def test_game_rounds_moves_and_the_decoded_instruction(chain) -> None:
    d = chain["view"].game(chain["game"])
    assert d["status"] == "challenger_won" and d["outcome"]["winner_side"] == "challenger"
    assert d["outcome"]["reason"] == "proof" and d["outcome"]["burnt"] > 0
    (phase,) = d["phases"]
    assert phase["hi"] == chain["truth"].steps and len(phase["rounds"]) == chain["rounds"]
    last = phase["rounds"][-1]
    assert (last["new_lo"], last["new_hi"]) == (chain["k0"] - 1, chain["k0"])
    for a, b in zip(phase["rounds"], phase["rounds"][1:], strict=False):   # each round narrows the previous
        assert (b["lo"], b["hi"]) == (a["new_lo"], a["new_hi"]) and b["hi"] - b["lo"] < a["hi"] - a["lo"]
    kinds = [m.get("kind") for m in d["moves"]]
    assert kinds.count("midpoint") == chain["rounds"] and d["moves"][0]["what"].startswith("open game")
    assert all(m["gas"] > 20_000 and m["tx"].startswith("0x") and len(m["tx"]) == 66 for m in d["moves"])
    # the proof's instruction, decoded from the prove transaction, is the true step k0 - 1 -> k0
    pre = decode_state(chain["witness"].state)
    state = chain["truth"].state_at(chain["k0"] - 1)
    word = state.memory.read_u32(state.pc)
    proof = d["proof"]
    assert proof["step"] == chain["k0"] - 1 and proof["pc"] == f"{pre['pc']:#010x}"
    assert proof["word"] == f"{word:#010x}" and proof["mnemonic"] == isa.mnemonic(word)
    assert {r["reg"] for r in proof["registers"]} >= {isa.rs(word), isa.rt(word)}
    if proof["mnemonic"] in isa.LOADS | isa.STORES:
        assert int(proof["memory"]["address"], 16) == (state.regs[isa.rs(word)] + isa.simm16(word)) & 0xFFFFFFFF


def test_request_history(chain) -> None:
    d = chain["view"].request(1)
    assert d["status"] == "finalized" and d["input"]["bytes"] == 64 and d["input"]["shape"] == [16]
    lie, good = d["results"]
    assert lie["status"] == "rejected" and lie["verdict"].startswith("rejected") and lie["games"][0]["id"] == 1
    assert good["status"] == "finalized" and d["answer"]["id"] == chain["good"]
    assert lie["output"]["bytes"] == OUT_LEN and lie["output"]["hex"] == "0x" + chain["fake_out"].hex()
    values = struct.unpack("<4f", chain["true_out"])
    assert good["output"]["float32"] == pytest.approx(list(values), nan_ok=True)


def test_unknown_ids_are_not_found(chain) -> None:
    from optimist.explorer import NotFound

    for fn, arg in ((chain["view"].game, 2), (chain["view"].game, 0), (chain["view"].request, 4)):
        with pytest.raises(NotFound):
            fn(arg)


def test_output_decoding_and_images() -> None:
    logits = struct.pack("<10f", *[0.0] * 3 + [5.0] + [0.0] * 5 + [4.0])
    top = decode_output(logits)["top"]
    assert [t["class"] for t in top] == [3, 9, 0] and top[0]["p"] > top[1]["p"] > top[2]["p"]
    assert "top" not in decode_output(b"\x01\x02\x03")          # not float32
    img = summarize_input(struct.pack("<784f", *[i / 784 for i in range(784)]))
    assert img["shape"] == [28, 28] and img["image"].startswith("data:image/png;base64,")
    assert summarize_input(bytes(256))["shape"] == [8, 8]
    import base64
    png = base64.b64decode(grey_png([0.0, 1.0, 2.0, 3.0], 2).split(",")[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (2, 2)


def test_toy_game_with_mock_proof_is_shown() -> None:
    """A MockMIPS game (contracts_world): the proof bytes are not a real witness; the page still renders."""
    world, truth = make_world(halt_at=20)
    rid = world.system.request(world.model_id, toy_input())
    run, final = world.run_for(toy_input(), bytes(40), 20)
    res = world.post(rid, run, final, bytes(40))
    gid = world.system.open_game(res, sender=world.challengers[0])
    view = ChainView(world.system)
    g = view.game(gid)
    assert g["status"] == "active" and g["to_move"] == "defender" and g["clock_left"] > 0
    check_against_contract(view)
    s = world.system
    s.post_midpoint(gid, 10, run.hash(10), sender=world.operator)
    assert view.overview()["games"][0]["to_move"] == "challenger"
    check_against_contract(view)
    s.respond(gid, 10, run.hash(10) == truth.hash(10), sender=world.challengers[0])
    check_against_contract(view)
    gid2 = s.open_game(res, sender=world.challengers[1])       # a second game on the same lie
    play(world, gid, run.hash, truth.hash, truth.state)
    check_against_contract(view)                                # rejected; game 2 still active (moot)
    s.cancel_game(gid2)
    check_against_contract(view)
    assert view.game(gid2)["outcome"]["reason"].startswith("cancelled")
    g = view.game(gid)
    assert g["status"] == "challenger_won" and g["proof"] is not None
    from optimist.explorer import pages
    assert "<svg" in pages.game(g)


# ---------------------------------------------------------------------------------------------- HTTP

def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


@pytest.fixture(scope="module")
def server(chain):
    with Explorer(chain["view"]) as srv:
        yield srv


@pytest.mark.parametrize("path", ["/", "/game/1", "/request/1", "/request/2", "/request/3", "/game/1?fragment=1"])
def test_pages_are_served(server, path) -> None:
    status, ctype, body = get(server.url + path)
    assert status == 200 and ctype.startswith("text/html")
    if "fragment" not in path:
        assert body.startswith("<!doctype html>") and "/api/status" in body
    if path.startswith("/game"):
        assert "<svg" in body and "One-step proof" in body and "challenger</b> wins" in body


@pytest.mark.parametrize("path,key", [("/api/overview", "requests"), ("/api", "games"), ("/api/game/1", "phases"),
                                      ("/api/request/1", "results"), ("/api/status", "block")])
def test_json_endpoints(server, path, key) -> None:
    status, ctype, body = get(server.url + path)
    assert status == 200 and ctype.startswith("application/json")
    assert key in json.loads(body)


@pytest.mark.parametrize("path", ["/game/2", "/game/0", "/request/99", "/nope", "/game/abc", "/game/1/x",
                                  "/game/99999999999999999999999", "/request/-1", "/%00", "/api/game/7",
                                  "/api/nope", "/api/request/x"])
def test_bad_urls_are_404(server, path) -> None:
    status, ctype, body = get(server.url + path)
    assert status == 404
    if path.startswith("/api"):
        assert ctype.startswith("application/json") and json.loads(body)["status"] == 404
    else:
        assert ctype.startswith("text/html") and "Not found" in body and "Traceback" not in body


def test_chain_down_shows_a_banner() -> None:
    """A node that stops answering: 503, a banner on pages, an error object on the API."""
    from web3 import Web3

    from contracts.system import System

    world, _ = make_world(halt_at=20)
    dead = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))
    system = System(world.system.w3, world.system.address)
    view = ChainView(system)
    view.overview()
    system.w3 = dead
    view.w3 = dead
    with Explorer(view) as srv:
        status, _, body = get(srv.url + "/")
        assert status == 503 and 'class="banner"' in body and "chain unreachable" in body
        status, _, body = get(srv.url + "/api/status")
        assert status == 503 and "chain unreachable" in json.loads(body)["error"]


def test_command_help_and_bad_rpc(tmp_path) -> None:
    r = CliRunner().invoke(main, ["explorer", "--help"])
    assert r.exit_code == 0 and "--port" in r.output and "--rpc-url" in r.output
    r = CliRunner().invoke(main, ["explorer", "--rpc-url", "http://127.0.0.1:9", "--deployment",
                                  str(tmp_path / "d.json")])
    assert r.exit_code == 3 and "cannot reach" in r.output


def test_two_phase_game_shows_both_phases() -> None:
    """A graph model's lie (tests/test_contracts_two_phase.py's helpers): phase 1 over nodes narrows to node 3,
    the defender enters it, phase 2 over its VM steps ends in the proof; the view shows both phases."""
    from graph_world import build_graph, tensor_root
    from test_contracts_two_phase import Chain, fake_final, play_nodes, play_steps, post

    from contracts.chain import eth_tester_web3
    from contracts.system import deploy_system
    from optimist.explorer import pages

    graph = build_graph(load_tiny())
    w3 = eth_tester_web3()
    s = deploy_system(w3, challenge_window=600, clock=300)
    acct = list(w3.eth.accounts)
    chain = Chain(s, s.register_graph_model(graph.model_spec()), acct[1], acct[2], acct)
    view = ChainView(s)
    final = fake_final(graph, 3)
    fake_out = final.memory.read(OUTPUT_BASE, 16)
    trace = graph.trace[:3] + [graph.trace[2].with_slot(3, tensor_root(fake_out))]
    res_id = post(chain, graph, trace, fake_out)
    gid = s.open_game(res_id, sender=chain.challenger)
    play_nodes(chain, gid, trace, graph.trace)
    g = view.game(gid)
    assert g["two_phase"] and g["over_nodes"] and g["phase"] == "transition" and g["to_move"] == "defender"
    assert len(g["phases"]) == 1 and g["phases"][0]["over_nodes"] and g["phases"][0]["hi"] == graph.m
    assert view.overview()["models"][0]["kind"] == "graph"
    check_against_contract(view)
    s.enter_node(gid, graph.entry(3, final=final), sender=chain.operator)
    check_against_contract(view)
    run = graph.nodes[3].run
    fake_hash = keccak256(final.encode())
    play_steps(chain, gid, lambda k: run.hashes[k] if k < run.steps else fake_hash, run.hashes.__getitem__, run,
               prover=chain.challenger)
    check_against_contract(view)
    g = view.game(gid)
    nodes, steps = g["phases"]
    assert nodes["over_nodes"] and (nodes["rounds"][-1]["new_lo"], nodes["rounds"][-1]["new_hi"]) == (2, 3)
    assert not steps["over_nodes"] and steps["node"] == 3 and steps["hi"] == run.steps and steps["rounds"]
    assert any(m["what"].startswith("enter node 3") for m in g["moves"])
    assert g["outcome"]["winner_side"] == "challenger" and g["proof"]["step"] == run.steps - 1
    html = pages.game(g)
    assert "phase 1 (nodes)" in html and "phase 2 (steps of node 3)" in html and html.count("<svg") == 2


def test_a_prove_with_dirty_padding_still_shows_its_game() -> None:
    """Anyone may send a game's one-step proof, and solc ignores the padding bytes after its 186-byte state; web3's
    decoder refuses non-zero ones (NonEmptyPaddingBytes, no ValueError). A prove whose padding byte is 0x77 resolves
    the game; its page still shows the proof's instruction, read as solc reads the calldata."""
    world, truth = make_world(halt_at=20)
    s, w3 = world.system, world.w3
    rid = s.request(world.model_id, toy_input())
    run, final = world.run_for(toy_input(), bytes(40), 20)
    res = world.post(rid, run, final, bytes(40))
    ch = world.challengers[0]
    gid = s.open_game(res, sender=ch)
    while (g := s.game(gid)).phase != Phase.PROOF:
        if g.phase == Phase.MIDPOINT:
            s.post_midpoint(gid, g.mid, run.hash(g.mid), sender=world.operator)
        else:
            s.respond(gid, g.mid, run.hash(g.mid) == truth.hash(g.mid), sender=ch)
    g = s.game(gid)
    data = bytearray(bytes.fromhex(s.contract.functions.prove(gid, truth.state(g.lo), bytes(1792))
                                   ._encode_transaction_data()[2:]))
    pad = 4 + 32 * 4 + 191   # the last padding byte after the state's 186 bytes
    assert data[pad] == 0
    data[pad] = 0x77
    with pytest.raises(Exception, match="Padding bytes"):
        s.contract.decode_function_input(bytes(data))
    tx = w3.eth.send_transaction({"from": ch, "to": s.address, "data": bytes(data), "gas": 3_000_000})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    view = ChainView(s)
    shown = view.game(gid)
    assert shown["status"] == "challenger_won" and shown["proof"] is not None
    from optimist.explorer import pages
    assert "<svg" in pages.game(shown)
