"""The explorer in rollup mode (docs/game-rules.md §3a, §3b; docs/explorer.md) on eth-tester with the toy program.

A request batch of 5 inputs in calldata (the toy program registered with 60 input bytes, so its 64-byte input
region can hold a malformed input) answered by a careless operator in one entry batch: entry 0 honestly, entry 1
with a wrong final state (disputed by a game), entry 2 with its true final state but a wrong output hash (rejected
without a game: reopened), entry 3 for a malformed input (rejected: void); entry 4 never answered. A result batch
(postBatch) answers two ordinary requests; its leaf 1 is disputed. The overview's rows, /request-batch/<id> and
/batch/<id> are checked against the contracts' own views (requestBatches, batches, entryTaken) and the client's
reading of each entry (optimist.entries.entry_state), before and after the window, finalizeEntries and a timeout.
"""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from challenger.models import ProgramModel, Trace, toy_model
from contracts.batches import (
    Claim,
    EntryLeaf,
    Leaf,
    entry_ref,
    input_proof,
    input_region_size,
    input_roots,
    leaf_proof,
    leaf_result_id,
)
from contracts.system import Outcome
from mipsvm.memory import keccak256
from mipsvm.regions import region_path
from optimist.entries import entry_state
from optimist.explorer import ChainView, Explorer
from optimist.explorer.data import decode_output
from optimist.world import World
from tests.test_explorer_browser import SHOTS, browser  # noqa: F401  (the headless Chromium fixture)

WINDOW = 600
FEE = 10**15
IN_LEN = 60


def toy_input(word: int) -> bytes:
    return struct.pack("<16I", *range(1, 16), word)[:IN_LEN]


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Any]:
    base = toy_model(engine="fast")
    model = ProgramModel(base.elf, IN_LEN, base.output_length, name="toy60", engine="fast")
    world = World.on_eth_tester(model, window=WINDOW, clock=300, db_dir=tmp_path_factory.mktemp("db"),
                                engine="fast", max_steps=60_000)
    s = world.system
    requester, operator, challenger = world.w3.eth.accounts[:3]
    malformed = toy_input(3) + b"\x00\x07\x00\x00"   # a non-zero byte past the 60 input bytes
    inputs = [toy_input(1), toy_input(2), toy_input(5), malformed, toy_input(4)]
    roots = input_roots(inputs, IN_LEN)
    rb = s.request_batch_data(world.model_id, inputs, len(inputs) * FEE, sender=requester)
    traces = [Trace(model, x, engine="fast", max_steps=60_000) for x in inputs[:3]]

    def leaf(i: int, t: Trace, **fields: object) -> EntryLeaf:
        x = EntryLeaf(i, keccak256(t.final_packed), keccak256(t.output), t.steps, int(t.outcome), t.exit_code)
        return EntryLeaf(**{**x.__dict__, **fields})

    entry_leaves = [leaf(0, traces[0]), leaf(1, traces[1], final_state_hash=keccak256(b"not the state")),
                    leaf(2, traces[2], output_hash=keccak256(b"not the output")), leaf(3, traces[0])]
    outputs = [traces[0].output, traces[1].output, b"not the output", traces[0].output]
    eb = s.post_entries(rb, entry_leaves, outputs, sender=operator)
    leaves = [x.leaf(rb) for x in entry_leaves]
    proofs = [leaf_proof([x.hash() for x in leaves], i) for i in range(4)]
    s.reject_entry(eb, 3, leaves[3], proofs[3], roots[3], input_proof(roots, 3), sender=challenger,
                   input_region=inputs[3].ljust(input_region_size(IN_LEN), b"\0"))
    st = traces[2].state_at(traces[2].steps)
    img = model.image
    s.reject_entry(eb, 2, leaves[2], proofs[2], roots[2], input_proof(roots, 2), st.encode(),
                   st.memory.read(img.output_base, img.output_size),
                   region_path(st.memory, img.output_base, img.output_size), sender=challenger)
    entry_game = s.dispute_leaf(eb, 1, leaves[1], proofs[1], sender=challenger, input_root=roots[1],
                                input_proof=input_proof(roots, 1))
    # a result batch on two ordinary requests; its leaf 1 disputed
    rids = [s.request(world.model_id, toy_input(10 + i), FEE, sender=requester) for i in range(2)]
    rtraces = [Trace(model, toy_input(10 + i), engine="fast", max_steps=60_000) for i in range(2)]
    claims = [Claim(rid, t.output, t.final_packed, s.output_proof(world.model_id, t.state_at(t.steps).memory))
              for rid, t in zip(rids, rtraces, strict=True)]
    rbatch = s.post_batch(world.model_id, claims, sender=operator)
    rleaves = [Leaf(c.request_id, keccak256(c.final_state), keccak256(c.output), t.steps, int(t.outcome), t.exit_code)
               for c, t in zip(claims, rtraces, strict=True)]
    batch_game = s.dispute_leaf(rbatch, 1, rleaves[1], leaf_proof([x.hash() for x in rleaves], 1), sender=challenger)
    return {"world": world, "system": s, "view": ChainView(s), "rb": rb, "eb": eb, "rbatch": rbatch,
            "traces": traces, "rtraces": rtraces, "rids": rids, "roots": roots, "entry_game": entry_game,
            "batch_game": batch_game, "accounts": (requester, operator, challenger), "rleaves": rleaves}


def check_against_contracts(view: ChainView) -> dict[str, Any]:
    """The overview's request batch and batch rows equal the contracts' views; each entry's state is the client's."""
    d, s = view.overview(), view.system
    for r in d["request_batches"]:
        c = s.request_batch_info(r["id"])
        assert (r["model"], r["requester"], r["count"], r["fee"], r["deadline"], r["inputs_root"]) == \
            (c.model_id, c.requester, c.count, c.fee, c.deadline, "0x" + c.inputs_root.hex())
        assert r["taken"] == sum(s.entry_taken(r["id"], i) for i in range(c.count))
        page = view.request_batch(r["id"])
        assert page["taken"] == r["taken"] and page["inputs_root"] == r["inputs_root"]
        events = s.events_since(s.deploy_block)
        for e in page["entries"]:
            client = entry_state(s, e["request_id"], events=events)
            assert e["state"] == client.state.lower() and e["ref"] == f"{r['id']}:{e['index']}"
            if "s left" not in client.words:   # the words of a running window hold the seconds left
                assert e["words"] == client.words
        standing = [e for e in page["entries"] if e["answers"] and not e["answers"][-1]["rejected"]
                    and e["state"] in ("answered", "window_over", "finalized", "disputed")
                    and not e["words"].startswith("disputed and its answer rejected")]
        assert r["answered"] == len(standing)
    assert len(d["batches"]) == s.batches.functions.batchCount().call()
    for b in d["batches"]:
        c = s.batch(b["id"])
        assert (b["operator"], b["count"], b["disputed"], b["settled"], b["model"], b["request_batch"], b["root"]) == \
            (c.operator, c.count, c.disputed, c.settled, c.model_id, c.request_batch, "0x" + c.root.hex())
        assert b["kind"] == ("entry" if c.request_batch else "result")
    for r in d["results"]:   # leaves: Optimist's result once disputed, else nothing stored per leaf
        c = s.result(r["id"])
        if c.status:
            assert (r["status"], r["operator"], r["steps"], r["request"], r["deadline"]) == \
                (c.status.name.lower(), c.operator, c.steps, c.request_id, c.deadline)
    for r in d["requests"]:
        c = s.get_request(r["id"])
        assert (r["status"], r["fee"], r["requester"], r["model"], r["deadline"]) == \
            (c.status.name.lower(), c.fee, c.requester, c.model_id, c.deadline)
    json.dumps(d, allow_nan=False)
    return d


def test_overview_rows_agree_with_the_contracts(chain) -> None:
    d = check_against_contracts(chain["view"])
    (r,) = d["request_batches"]
    assert (r["count"], r["fee"], r["via"], r["blobs"], r["answered"], r["taken"]) == (5, FEE, "calldata", 0, 2, 3)
    assert d["counts"]["request_batches"] == 1 and d["counts"]["batches"] == 2
    entry_b, result_b = d["batches"]
    assert (entry_b["kind"], entry_b["count"], entry_b["disputed"], entry_b["settled"]) == ("entry", 4, 3, False)
    assert (result_b["kind"], result_b["count"], result_b["disputed"]) == ("result", 2, 1)
    assert entry_b["window_left"] > 0 and entry_b["request_batch"] == chain["rb"]
    games = {g["id"]: g for g in d["games"]}
    assert games[chain["entry_game"]]["leaf"] == [chain["eb"], 1]
    assert games[chain["batch_game"]]["leaf"] == [chain["rbatch"], 1]
    refs = {r["ref"] for r in d["requests"]}
    assert f"{chain['rb']}:1" in refs and f"{chain['rb']}:0" not in refs   # only the disputed entry is in Optimist
    _, _, challenger = chain["accounts"]
    assert "challenger" in {b["account"]: b["roles"] for b in d["balances"]}[challenger]


def test_request_batch_page_entries_in_words(chain) -> None:
    rb = chain["rb"]
    d = chain["view"].request_batch(rb)
    assert [e["state"] for e in d["entries"]] == ["answered", "disputed", "reopened", "void", "open"]
    assert d["via"] == "calldata" and d["inputs"]["read"] and "calldata" in d["inputs"]["where"]
    assert all(e["input"]["matches_root"] for e in d["entries"])
    assert [e["input"]["well_formed"] for e in d["entries"]] == [True, True, True, False, True]
    assert [e["input_root"] for e in d["entries"]] == ["0x" + r.hex() for r in chain["roots"]]
    disputed = d["entries"][1]
    assert disputed["in_optimist"] and disputed["answers"][0]["games"] == [{"id": chain["entry_game"],
                                                                             "status": "active"}]
    assert disputed["answers"][0]["result_id"] == leaf_result_id(chain["eb"], 1)
    assert d["entries"][3]["answers"][0]["malformed"] and d["entries"][2]["answers"][0]["rejected"]
    assert d["entries"][4]["answers"] == [] and d["states"] == {"answered": 1, "disputed": 1, "reopened": 1,
                                                                "void": 1, "open": 1}
    assert [b["id"] for b in d["batches"]] == [chain["eb"]]


def test_batch_pages(chain) -> None:
    view = chain["view"]
    d = view.batch(chain["eb"])
    rb = chain["rb"]
    assert [x["status"] for x in d["leaves"]] == ["pending", "disputed", "rejected", "rejected"]
    assert [x["request"] for x in d["leaves"]] == [f"{rb}:{i}" for i in range(4)]
    assert [x["request_in_optimist"] for x in d["leaves"]] == [False, True, False, False]
    assert "malformed" in d["leaves"][3]["words"] and "contradicts its own final state" in d["leaves"][2]["words"]
    assert d["leaves"][1]["games"] == [{"id": chain["entry_game"], "status": "active"}]
    assert d["leaves"][0]["output"] == decode_output(chain["traces"][0].output)
    assert d["leaves"][1]["result_status"] == "pending" and d["outputs_in"] == "calldata"
    r = view.batch(chain["rbatch"])
    assert [x["request_id"] for x in r["leaves"]] == chain["rids"] and r["kind"] == "result"
    assert [x["status"] for x in r["leaves"]] == ["pending", "disputed"]
    assert r["leaves"][0]["steps"] == chain["rtraces"][0].steps and r["leaves"][0]["outcome"] == "success"
    assert r["root"] == "0x" + chain["system"].batch(chain["rbatch"]).root.hex()
    assert d["output_hash_kind"] == r["output_hash_kind"] == "keccak256"   # a program model
    assert r["leaves"][0]["output_hash"] == "0x" + keccak256(chain["rtraces"][0].output).hex()


def test_graph_batches_show_output_hashes_as_tensor_roots() -> None:
    """A graph model's batch leaves (entry and result batches) commit their outputs by their tensor roots: the API
    says so (output_hash_kind), shows the root, checks the published output against it and the page labels it."""
    from contracts_world import load_tiny
    from graph_world import GRAPH_INPUT, build_graph, tensor_root

    from contracts.chain import eth_tester_web3
    from contracts.system import deploy_system
    from optimist.explorer import pages

    graph = build_graph(load_tiny())
    s = deploy_system(eth_tester_web3(), challenge_window=WINDOW, clock=300)
    model_id = s.register_graph_model(graph.model_spec())
    m, out = graph.m, graph.output
    rb = s.request_batch_data(model_id, [GRAPH_INPUT], FEE)
    eb = s.post_entries(rb, [EntryLeaf(0, graph.c(m), tensor_root(out), m, int(Outcome.SUCCESS), 0)], [out])
    rid = s.request(model_id, GRAPH_INPUT, FEE)
    rbatch = s.post_batch(model_id, [Claim(rid, out, graph.c(m), graph.trace[m].proof(m))])
    view = ChainView(s)
    for batch_id in (eb, rbatch):
        d = view.batch(batch_id)
        assert d["output_hash_kind"] == d["leaves"][0]["output_hash_kind"] == "tensor_root"
        assert d["leaves"][0]["output_hash"] == "0x" + tensor_root(out).hex() != "0x" + keccak256(out).hex()
        assert d["leaves"][0]["output"] == decode_output(out)   # checked against the root, not a mismatch note
        assert "the tensor root of its output" in pages.batch(d)


def _view_editing_post_entries(s: Any, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> ChainView:
    """A ChainView whose decoded postEntries calls pass through `edit` (as a node serving other calldata would)."""
    view = ChainView(s)
    real = view._batches_call

    def call(tx: bytes) -> dict[str, Any]:
        got = real(tx)
        return edit(got) if got["fn"] == "postEntries" else got

    view._batches_call = call   # type: ignore[method-assign]
    return view


def _unreadable(got: dict[str, Any]) -> dict[str, Any]:
    """A postEntries sent through a contract: its calldata is not the call."""
    raise ValueError("not a postEntries call")


def test_entry_leaves_not_readable_are_not_fatal(chain) -> None:
    """An entry batch whose postEntries was not a direct call (a contract sent it: its calldata is not readable):
    the overview and the batch page stand, the disputed leaf is read from Optimist, the request batch page says why
    its entries' states are missing."""
    s, rb, eb = chain["system"], chain["rb"], chain["eb"]
    view = _view_editing_post_entries(s, _unreadable)
    d = view.overview()
    assert [r["status"] for r in d["results"] if r["leaf"] == [eb, 1]] == ["pending"]
    b = view.batch(eb)
    assert [x["status"] for x in b["leaves"]] == ["unreadable", "disputed", "unreadable", "unreadable"]
    assert b["leaves"][1]["request"] == f"{rb}:1" and "not sent directly" in b["leaves"][0]["words"]
    # Optimist keeps no hashes for a leaf: the disputed one is read from its disputeLeaf calldata
    assert view._index.entry_leaves[eb][1].output_hash == keccak256(chain["traces"][1].output)
    assert view._index.entry_leaves[eb][1].final_state_hash == keccak256(b"not the state")
    req = view.request(entry_ref(rb, 1))
    assert "not readable" in req["results"][0]["output"]["note"]
    page = view.request_batch(rb)
    assert page["entries"] == [] and "not sent directly" in page["error"]
    with Explorer(view) as ex:
        for path in (f"/batch/{eb}", f"/request-batch/{rb}", "/"):
            with urllib.request.urlopen(ex.url + path, timeout=30) as resp:
                assert resp.status == 200


def test_entry_leaves_that_do_not_hash_to_the_root_are_not_shown(chain) -> None:
    """The explorer takes an entry batch's leaves only if they hash to its root (contracts.batches.posted_entries):
    a postEntries call whose leaves are not the ones posted (one final state hash changed in what the node serves)
    leaves them unreadable, as a call through a contract does; the request batch page says why."""
    s, rb, eb = chain["system"], chain["rb"], chain["eb"]
    def another_first_state(got: dict[str, Any]) -> dict[str, Any]:
        first = got["leaves"][0]
        return {**got, "leaves": [(first[0], keccak256(b"another state"), *first[2:]), *got["leaves"][1:]]}

    view = _view_editing_post_entries(s, another_first_state)
    b = view.batch(eb)
    assert [x["status"] for x in b["leaves"]] == ["unreadable", "disputed", "unreadable", "unreadable"]
    page = view.request_batch(rb)
    assert page["entries"] == [] and "do not hash to the batch's root" in page["error"]


def test_a_disputed_leaf_read_from_optimist_when_no_calldata_is_readable(chain) -> None:
    """Neither the postEntries nor the disputeLeaf calldata readable: the disputed leaf comes from Optimist's record
    and its first GameOpened (the record keeps no hashes), its output hash unknown (zero)."""
    s, eb = chain["system"], chain["eb"]
    view = _view_editing_post_entries(s, _unreadable)
    s_view = view.system
    original = s_view.disputed_leaf
    s_view.disputed_leaf = lambda result_id: None   # type: ignore[method-assign]
    try:
        view.overview()
    finally:
        s_view.disputed_leaf = original   # type: ignore[method-assign]
    leaf = view._index.entry_leaves[eb][1]
    assert (leaf.index, leaf.final_state_hash, leaf.output_hash, leaf.steps) == \
        (1, keccak256(b"not the state"), bytes(32), chain["traces"][1].steps)


def test_links_from_existing_pages(chain) -> None:
    view, rb = chain["view"], chain["rb"]
    g = view.game(chain["entry_game"])
    assert g["request"] == entry_ref(rb, 1) and g["request_ref"] == f"{rb}:1" and g["leaf"] == [chain["eb"], 1]
    req = view.request(entry_ref(rb, 1))
    assert req["ref"] == f"{rb}:1" and req["entry"] == {"request_batch": rb, "index": 1, "ref": f"{rb}:1"}
    assert req["input"]["bytes"] == IN_LEN and req["status"] == "posted"
    (res,) = req["results"]
    assert res["id"] == leaf_result_id(chain["eb"], 1) and res["leaf"] == [chain["eb"], 1]
    assert res["output"] == decode_output(chain["traces"][1].output) and res["status"] == "pending"
    assert res["final_state_hash"] == "0x" + keccak256(b"not the state").hex()   # the leaf's (Optimist keeps none)
    (res1,) = view.request(chain["rids"][1])["results"]   # a disputed result-batch leaf
    assert res1["status"] == "pending" and res1["final_state_hash"] == "0x" + chain["rleaves"][1].final_state_hash.hex()
    # an ordinary request answered by an undisputed result-batch leaf: the leaf's fields, its batch's status
    r0 = view.request(chain["rids"][0])
    (leaf0,) = r0["results"]
    assert leaf0["status"] == "pending" and leaf0["leaf"] == [chain["rbatch"], 0]
    assert leaf0["steps"] == chain["rtraces"][0].steps and leaf0["output"] == decode_output(chain["rtraces"][0].output)


def test_http_pages_links_and_404s(chain) -> None:
    rb, eb = chain["rb"], chain["eb"]
    with Explorer(chain["view"]) as ex:
        def get(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(ex.url + path, timeout=30) as resp:
                    return resp.status, resp.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        status, page = get("/")
        assert status == 200 and f'href="/request-batch/{rb}"' in page and f'href="/batch/{eb}"' in page
        assert f'href="/request/{rb}:1"' in page
        status, page = get(f"/request-batch/{rb}")
        assert status == 200 and f'href="/game/{chain["entry_game"]}"' in page and "void: its input" in page
        assert f'href="/request/{rb}:1"' in page and f'href="/batch/{eb}"' in page
        status, page = get(f"/batch/{eb}")
        assert status == 200 and f'href="/request-batch/{rb}' in page and "rejected without a game" in page
        status, page = get(f"/game/{chain['entry_game']}")
        assert status == 200 and f'href="/request/{rb}:1"' in page and f'href="/batch/{eb}"' in page
        status, page = get(f"/request/{rb}:1")
        assert status == 200 and "entry 1 of" in page
        status, frag = get(f"/request-batch/{rb}?fragment=1")
        assert status == 200 and not frag.startswith("<!doctype")
        for path in (f"/api/request-batch/{rb}", f"/api/batch/{eb}", f"/api/batch/{chain['rbatch']}"):
            status, body = get(path)
            assert status == 200 and json.loads(body)["id"] in (rb, eb, chain["rbatch"])
        for path in ("/request-batch/99", "/batch/99", "/api/request-batch/99", "/api/batch/0", f"/request/{rb}:0",
                     f"/request/{rb}:99999", "/request/0:1", "/request-batch/x", "/api/request/1:2:3",
                     f"/request/{entry_ref(rb, 0)}", "/batch/99999999999999999999999"):
            status, body = get(path)
            assert status == 404, path
            assert "Traceback" not in body
        status, body = get(f"/request/{rb}:0")
        assert "never disputed" in body and f"/request-batch/{rb}" in body


def test_browser_sees_an_entry_answered_live(chain, browser) -> None:  # noqa: F811  (the imported fixture)
    """Headless Chromium on /request-batch/<id>: entry 4 answered meanwhile appears without a reload (the fragment
    swap); screenshots of the request batch and the entry batch pages."""
    import time

    from selenium.webdriver.common.by import By

    from optimist.explorer.data import serialize_provider

    s, rb = chain["system"], chain["rb"]
    lock = serialize_provider(s.w3)
    with Explorer(ChainView(s, lock=lock), poll_ms=300) as server:
        browser.get(f"{server.url}/request-batch/{rb}")
        browser.execute_script("window.__loadedOnce = true;")
        assert "open: waiting for an operator" in browser.find_element(By.ID, "main").text
        t = Trace(chain["traces"][0].model, toy_input(4), engine="fast", max_steps=60_000)
        _, operator, _ = chain["accounts"]
        with lock:
            s.post_entries(rb, [EntryLeaf(4, keccak256(t.final_packed), keccak256(t.output), t.steps, int(t.outcome),
                                          t.exit_code)], [t.output], sender=operator)
        deadline = time.monotonic() + 30
        while "open: waiting for an operator" in browser.find_element(By.ID, "main").text:
            assert time.monotonic() < deadline, "the answered entry never appeared"
            time.sleep(0.1)
        assert browser.execute_script("return window.__loadedOnce === true;"), "the page reloaded"
        text = browser.find_element(By.ID, "main").text
        assert "void: its input does not fit the model" in text and "disputed: a game runs" in text
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "request-batch.png"))
        browser.get(f"{server.url}/batch/{chain['eb']}")
        assert "rejected without a game" in browser.find_element(By.ID, "main").text
        browser.save_screenshot(str(SHOTS / "batch.png"))
        browser.get(f"{server.url}/request/{rb}:1")
        assert f"entry 1 of request batch #{rb}" in browser.find_element(By.ID, "main").text
        browser.save_screenshot(str(SHOTS / "request-entry.png"))
        browser.get(f"{server.url}/")
        assert "Request batches" in browser.find_element(By.ID, "main").text
        browser.save_screenshot(str(SHOTS / "overview-batches.png"))
    assert (SHOTS / "request-batch.png").stat().st_size > 10_000


def test_after_the_window_finalize_and_timeout(chain) -> None:
    """After the window: entry 0 finalizeEntries'd (output decoded as the client reads it); the disputed leaf's
    game lost by timeout: the entry is reopened as an Optimist request; the views still agree."""
    world, s, view = chain["world"], chain["system"], chain["view"]
    world.advance_time(WINDOW + 2)
    d = view.request_batch(chain["rb"])
    assert d["entries"][0]["state"] == "window_over"
    s.finalize_entries(chain["eb"])
    s.timeout(chain["entry_game"])
    d = check_against_contracts(view)
    assert d["batches"][0]["settled"] and d["batches"][0]["finalized"] == 1 and d["batches"][0]["fees"] == FEE
    page = view.request_batch(chain["rb"])
    e0 = page["entries"][0]
    assert e0["state"] == "finalized" and e0["output"]["result_id"] == leaf_result_id(chain["eb"], 0)
    assert {k: v for k, v in e0["output"].items() if k != "result_id"} == decode_output(chain["traces"][0].output)
    assert page["entries"][1]["state"] == "disputed" and "reopened as an ordinary Optimist request" in \
        page["entries"][1]["words"]
    b = view.batch(chain["eb"])
    assert [x["status"] for x in b["leaves"]] == ["finalized", "disputed", "rejected", "rejected"]
    assert b["leaves"][1]["result_status"] == "rejected"
    req = view.request(entry_ref(chain["rb"], 1))
    assert req["status"] == "open" and req["results"][0]["verdict"] == "rejected: lost a game"
    assert view.game(chain["entry_game"])["status"] == "challenger_won"
    assert Outcome(chain["rleaves"][0].outcome) == Outcome.SUCCESS
    # a second request batch past its deadline: entry 1 answered, the others cancelled by the requester
    requester, operator, _ = chain["accounts"]
    rb2 = s.request_batch_data(world.model_id, [toy_input(20 + i) for i in range(3)], 3 * FEE,
                               deadline=world.now() + 100, sender=requester)
    t = chain["traces"][0]
    s.post_entries(rb2, [EntryLeaf(1, keccak256(t.final_packed), keccak256(t.output), t.steps, int(t.outcome),
                                   t.exit_code)], [t.output], sender=operator)
    world.advance_time(200)
    assert [e["state"] for e in view.request_batch(rb2)["entries"]] == ["expired", "answered", "expired"]
    assert s.cancel_entries(rb2, sender=requester) == 2
    d = check_against_contracts(view)
    row = next(r for r in d["request_batches"] if r["id"] == rb2)
    assert (row["taken"], row["answered"], row["cancelled"]) == (3, 1, 2)
    assert [e["state"] for e in view.request_batch(rb2)["entries"]] == ["cancelled", "answered", "cancelled"]


@pytest.mark.anvil
def test_blob_inputs_and_outputs_on_anvil(tmp_path) -> None:
    """On anvil a request batch's inputs travel in blobs and an entry batch's outputs too: the explorer reads them
    (anvil_getBlobsByTransactionHash, checked against the versioned hashes), decodes the finalized entries' outputs
    and says so when a blob output does not hash to its leaf; with a beacon URL that does not answer, the page stands
    and says why."""
    from eth_account import Account

    from contracts.chain import ANVIL_MNEMONIC, Anvil
    from optimist.client import Client
    from tests.test_daemon_anvil import _anvil_package_installed

    if not _anvil_package_installed():  # pragma: no cover
        pytest.skip("the npm anvil package is not installed (make setup)")
    Account.enable_unaudited_hdwallet_features()
    keys = [Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(2)]
    model = toy_model(engine="fast")
    with Anvil() as node:
        world = World.deploy(node.web3(), model, window=WINDOW, clock=300, db_dir=tmp_path, engine="fast",
                             max_steps=60_000)
        s = world.system
        client = Client.from_system(s, keys[0].address, key=keys[0])
        inputs = [struct.pack("<16I", *range(1, 16), 800 + i) for i in range(3)]
        batch = client.request_batch(world.model_id, inputs, fee_each=FEE)
        assert batch.submitted.via == "blobs"
        traces = [Trace(model, x, engine="fast", max_steps=60_000) for x in inputs]
        leaves = [EntryLeaf(i, keccak256(t.final_packed), keccak256(t.output), t.steps, int(t.outcome), t.exit_code)
                  for i, t in enumerate(traces)]
        good = s.post_entries(batch.id, leaves[:2], private_key=keys[1].key, blob_outputs=[t.output for t in traces[:2]])
        bad = s.post_entries(batch.id, leaves[2:], private_key=keys[1].key, blob_outputs=[b"not the output"])
        world.advance_time(WINDOW + 2)
        s.finalize_entries(good)
        s.finalize_entries(bad)
        view = ChainView(s)
        d = view.request_batch(batch.id)
        assert d["via"] == "blobs" and len(d["blob_hashes"]) == 1 and d["inputs"]["read"]
        assert "blob" in d["inputs"]["where"] and all(e["input"]["matches_root"] for e in d["entries"])
        assert [e["state"] for e in d["entries"]] == ["finalized"] * 3
        for i in range(2):
            out = d["entries"][i]["output"]
            assert {k: v for k, v in out.items() if k != "result_id"} == decode_output(traces[i].output)
        assert "does not hash to the leaf's output hash" in d["entries"][2]["output"]["note"]
        b = view.batch(good)
        assert b["outputs_in"] == "blobs" and b["leaves"][1]["output"] == decode_output(traces[1].output)
        unreachable = ChainView(s, beacon_url="http://127.0.0.1:9")
        d = unreachable.request_batch(batch.id)
        assert not d["inputs"]["read"] and "beacon node" in d["inputs"]["where"]
        assert "cannot be read here" in d["entries"][0]["output"]["note"]
