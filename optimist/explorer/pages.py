"""HTML of the explorer's pages (server-rendered; a small inline script polls /api/status and swaps the
page's main block when a new block arrives, so pages update without a reload)."""

from __future__ import annotations

import html
import time
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1c2430}
header{background:#1c2430;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:baseline}
header a{color:#9cd1ff;text-decoration:none}main{padding:1em 1.5em}
table{border-collapse:collapse;margin:.4em 0 1.2em;background:#fff;font-size:.9em}
td,th{border:1px solid #d8dde3;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef1f4}code,.mono{font-family:ui-monospace,monospace;font-size:.9em}
.banner{background:#b00020;color:#fff;padding:.6em 1.2em;font-weight:bold}
.hidden{display:none}.muted{color:#6b7785}.ok{color:#087f23}.bad{color:#b00020}
h2{margin:.8em 0 .2em;font-size:1.15em}.pill{border-radius:.6em;padding:0 .5em;background:#e3e8ee}
.pill.active,.pill.posted,.pill.open,.pill.pending{background:#fff3c4}
.pill.finalized,.pill.defender_won{background:#d4f5dc}
.pill.rejected,.pill.challenger_won,.pill.cancelled{background:#fbd9dd}
.pill.answered,.pill.disputed,.pill.window_over{background:#fff3c4}
.pill.void,.pill.reopened,.pill.expired{background:#fbd9dd}
"""

SCRIPT = """
(function(){
  const main=document.getElementById('main'), banner=document.getElementById('banner');
  let version=main.dataset.version, busy=false, shown=Date.now();
  function tick(){
    const dt=Math.floor((Date.now()-shown)/1000);
    document.querySelectorAll('[data-left]').forEach(function(e){
      const left=parseInt(e.dataset.left,10)-dt;
      e.textContent=left>0?fmt(left)+' left':'expired ('+fmt(-left)+' ago)';
    });
  }
  function fmt(s){const m=Math.floor(s/60);return (m?m+' min ':'')+(s%60)+' s';}
  async function poll(){
    if(busy)return; busy=true;
    try{
      const r=await fetch('/api/status',{cache:'no-store'}); const j=await r.json();
      if(!r.ok||j.error){throw new Error(j.error||r.status);}
      banner.classList.add('hidden');
      if(j.version!==version){
        const f=await fetch(location.pathname+'?fragment=1',{cache:'no-store'});
        if(f.ok){main.innerHTML=await f.text(); version=j.version; shown=Date.now(); tick();}
      }
    }catch(e){banner.textContent='chain unreachable: '+e.message+' (retrying)';banner.classList.remove('hidden');}
    busy=false;
  }
  tick(); setInterval(tick,1000); setInterval(poll,POLL_MS);
})();
"""


def e(value: Any) -> str:
    """HTML-escaped text of `value`."""
    return html.escape(str(value))


def eth(wei: int) -> str:
    return f"{wei / 10**18:.6g} ETH"


def short(addr: str) -> str:
    return f'<span class="mono" title="{e(addr)}">{e(addr[:8])}…{e(addr[-4:])}</span>' if addr else ""


def pill(status: str) -> str:
    return f'<span class="pill {e(status)}">{e(status.replace("_", " "))}</span>'


def left(seconds: int) -> str:
    return f'<span data-left="{int(seconds)}"></span>'


def request_link(ref: str) -> str:
    """A request of Optimist by its id or entry ref (`RB:I`)."""
    return f'<a href="/request/{e(ref)}">#{e(ref)}</a>'


def entry_link(ref: str, in_optimist: bool) -> str:
    """An entry `RB:I`: its Optimist request once disputed, else its row on the request batch's page."""
    if in_optimist:
        return request_link(ref)
    rb, _, i = ref.partition(":")
    return f'<a href="/request-batch/{e(rb)}#entry-{e(i)}">{e(ref)}</a>'


def result_label(result_id: int, leaf: list[int] | None) -> str:
    """A result id; a batch leaf as `leaf I of batch B`, linked to the batch."""
    if leaf:
        return f'<a href="/batch/{leaf[0]}">leaf {leaf[1]} of batch {leaf[0]}</a>'
    return e(result_id)


def games_html(games: list[dict[str, Any]]) -> str:
    return " ".join(f'<a href="/game/{g["id"]}">#{g["id"]}</a> {pill(g["status"])}' for g in games)


def output_html(o: dict[str, Any] | None, outcome: str = "") -> str:
    """A decoded output: its top classes, else its length (or a note)."""
    if not o:
        return e(outcome)
    if "note" in o:
        return f'<span class="muted">{e(o["note"])}</span>'
    return ", ".join(f'{t["class"]} ({t["p"]:.1%})' for t in o.get("top", [])) or f'{o["bytes"]} bytes'


def table(headers: list[str], rows: list[list[str]], empty: str = "none") -> str:
    if not rows:
        return f'<p class="muted">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def shell(title: str, body: str, version: str, *, banner: str = "", poll_ms: int = 2000) -> str:
    """A whole page around `body` (the main block the script refreshes)."""
    cls = "banner" if banner else "banner hidden"
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{e(title)} · optimist explorer</title>'
            f'<style>{STYLE}</style></head><body><header><strong>optimist explorer</strong>'
            f'<a href="/">overview</a><span class="muted">read-only · JSON: <a href="/api/overview">/api</a></span>'
            f'</header><div id="banner" class="{cls}">{e(banner)}</div>'
            f'<main id="main" data-version="{e(version)}">{body}</main>'
            f'<script>{SCRIPT.replace("POLL_MS", str(int(poll_ms)))}</script></body></html>')


def overview(d: dict[str, Any]) -> str:
    """The overview's main block."""
    p = d["params"]
    out = [f'<p class="muted">block {d["block"]} · chain time {when(d["chain_time"])} UTC · contract '
           f'<span class="mono">{e(d["contract"])}</span> · window {p["challenge_window"]} s · clock {p["clock"]} s'
           f' · bonds {eth(p["result_bond"])} / {eth(p["challenge_bond"])} · burnt {eth(d["burned"])} · batches '
           f'contract <span class="mono">{e(d["batches_contract"])}</span></p>']
    out.append("<h2>Models</h2>" + table(
        ["id", "kind", "name", "hash", "image / nodes root", "input B", "output B", "max steps"],
        [[e(m["id"]), e(m["kind"]), e(m["name"]), f'<span class="mono">{e(m["model_hash"][:18])}…</span>',
          f'<span class="mono">{e((m.get("image_root") or m.get("nodes_root", ""))[:18])}…</span>',
          e(m["input_length"]), e(m["output_length"]), e(m.get("max_steps", m.get("nodes", "")))]
         for m in d["models"]], "no models registered"))
    active = [g for g in d["games"] if g["status"] == "active"]
    out.append("<h2>Active games</h2>" + table(
        ["game", "result", "phase", "interval", "rounds", "to move", "clock"],
        [[f'<a href="/game/{g["id"]}">#{g["id"]}</a>', result_label(g["result"], g["leaf"]), e(g["phase"]),
          f'[{g["lo"]:,}, {g["hi"]:,}]' + (" nodes" if g["over_nodes"] else ""), e(g["rounds"]),
          e(g["to_move"]), left(g["clock_left"])] for g in active], "no active game"))
    by_status: dict[str, list[dict[str, Any]]] = {}
    for r in d["requests"]:
        by_status.setdefault(r["status"], []).append(r)
    out.append("<h2>Requests</h2>")
    for status in ("open", "posted", "finalized", "cancelled"):
        rows = by_status.get(status, [])
        if rows:
            out.append(f"<h3>{e(status)} ({len(rows)})</h3>" + table(
                ["request", "model", "fee", "age", "requester", "result"],
                [[request_link(r["ref"]), e(r["model"]), eth(r["fee"]),
                  "" if r["age"] is None else f'{r["age"]} s', short(r["requester"]),
                  result_label(r["result"], r["result_leaf"]) if r["result"] else ""]
                 for r in rows]))
    if not d["requests"]:
        out.append('<p class="muted">no requests</p>')
    out.append("<h2>Results</h2>" + table(
        ["result", "request", "operator", "status", "outcome", "steps", "window", "games open"],
        [[result_label(r["id"], r["leaf"]), request_link(r["request_ref"]), short(r["operator"]),
          pill(r["status"]), e(r["outcome"]), f'{r["steps"]:,}',
          left(r["window_left"]) if r["status"] == "pending" else "", e(r["open_games"])]
         for r in d["results"]], "no results"))
    done = [g for g in d["games"] if g["status"] != "active"]
    out.append("<h2>Finished games</h2>" + table(
        ["game", "result", "status", "rounds"],
        [[f'<a href="/game/{g["id"]}">#{g["id"]}</a>', result_label(g["result"], g["leaf"]), pill(g["status"]),
          e(g["rounds"])]
         for g in done], "none"))
    out.append("<h2>Request batches</h2>" + table(
        ["request batch", "model", "requester", "entries", "fee each", "answered", "taken", "inputs", "deadline"],
        [[f'<a href="/request-batch/{r["id"]}">#{r["id"]}</a>', e(r["model"]), short(r["requester"]), e(r["count"]),
          eth(r["fee"]), e(r["answered"]), e(r["taken"]), e(r["via"]), left(r["deadline_left"])]
         for r in d["request_batches"]], "no request batches"))
    out.append("<h2>Batches</h2>" + table(
        ["batch", "kind", "operator", "model", "answers", "leaves", "disputed", "window", "settled"],
        [[f'<a href="/batch/{b["id"]}">#{b["id"]}</a>', e(b["kind"]), short(b["operator"]), e(b["model"]),
          f'<a href="/request-batch/{b["request_batch"]}">request batch #{b["request_batch"]}</a>'
          if b["request_batch"] else "requests", e(b["count"]), e(b["disputed"]), window(b),
          pill("finalized" if b["settled"] else "pending")]
         for b in d["batches"]], "no batches"))
    out.append("<h2>Balances</h2>" + table(
        ["account", "roles", "credited (withdrawable)", "wallet"],
        [[short(b["account"]), e(", ".join(b["roles"])), eth(b["credited"]), eth(b["wallet"])]
         for b in d["balances"]], "no accounts yet") + f'<p>contract holds {eth(d["contract_balance"])}</p>')
    return "".join(out)


def window(b: dict[str, Any]) -> str:
    """A batch's challenge window: a countdown, or settled / over."""
    if b["settled"]:
        return f'settled: {b["finalized"]} finalized, fees {eth(b["fees"])}'
    return left(b["window_left"]) if b["window_left"] >= 0 else "over: awaiting finalize"


LEGEND = ('<p class="muted">Each bar is one round\'s interval (full width); the line is the midpoint the defender '
          'hashed; orange is the half the challenger\'s answer kept for the next round.</p>')


def when(ts: int | None) -> str:
    """A unix time as UTC (chain time)."""
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def bisection_svg(phase: dict[str, Any], width: int = 640) -> str:
    """Each round as a bar: the interval of that round (full width), its midpoint, and the half kept."""
    rounds = phase["rounds"]
    row, pad, bar = 34, 150, width - 150 - 20
    height = row * (len(rounds) + 1) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="bisection" '
             f'font-size="11" font-family="ui-monospace,monospace">']
    unit = "node" if phase["over_nodes"] else "step"
    parts.append(f'<text x="4" y="16">{unit}s [{phase["lo"]:,}, {phase["hi"]:,}]</text>')
    for i, r in enumerate(rounds):
        y = row * (i + 1)
        lo, hi, mid = r["lo"], r["hi"], r["mid"]
        span = max(hi - lo, 1)
        x_mid = pad + bar * (mid - lo) / span
        parts.append(f'<text x="4" y="{y + 14}">round {i + 1}</text>')
        parts.append(f'<rect x="{pad}" y="{y}" width="{bar}" height="18" fill="#dfe4ea"/>')
        answer = r.get("answer")
        if answer == "agree":
            parts.append(f'<rect x="{x_mid:.1f}" y="{y}" width="{pad + bar - x_mid:.1f}" height="18" fill="#e8a33d"/>')
        elif answer == "disagree":
            parts.append(f'<rect x="{pad}" y="{y}" width="{x_mid - pad:.1f}" height="18" fill="#e8a33d"/>')
        parts.append(f'<line x1="{x_mid:.1f}" x2="{x_mid:.1f}" y1="{y - 2}" y2="{y + 20}" stroke="#1c2430" '
                     f'stroke-width="2"/>')
        parts.append(f'<text x="{pad}" y="{y + 30}" fill="#6b7785">{lo:,}</text>')
        parts.append(f'<text x="{pad + bar}" y="{y + 30}" text-anchor="end" fill="#6b7785">{hi:,}</text>')
        label = f'mid {mid:,}' + (f' · {answer}' if answer else " · awaiting answer")
        right = x_mid < pad + bar / 2
        parts.append(f'<text x="{x_mid + (5 if right else -5):.1f}" y="{y + 13}" '
                     f'text-anchor="{"start" if right else "end"}" fill="#1c2430">{e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def game(d: dict[str, Any]) -> str:
    """The game page's main block."""
    out = [f'<h1>Game #{d["id"]} {pill(d["status"])}</h1>',
           f'<p>result {result_label(d["result"], d["leaf"])} of request {request_link(d["request_ref"])}'
           f'{entry_note(d["request_ref"])} · defender '
           f'{short(d["defender"])} · challenger {short(d["challenger"])} · phase <b>{e(d["phase"])}</b> · '
           f'interval [{d["lo"]:,}, {d["hi"]:,}]{" (nodes)" if d["over_nodes"] else ""}</p>']
    if d["status"] == "active":
        out.append(f'<p>to move: <b>{e(d["to_move"])}</b> (midpoint {d["mid"]:,}) · clock {left(d["clock_left"])}'
                   f' · clocks left: defender {d["clocks"]["defender"]} s, challenger {d["clocks"]["challenger"]} s</p>')
    if d["two_phase"]:
        out.append('<p class="muted">two-phase game: phase 1 bisects the graph\'s nodes; the Transition enters '
                   'one node; phase 2 bisects that node\'s VM steps.</p>')
    for i, ph in enumerate(d["phases"]):
        title = ("phase 1 (nodes)" if ph["over_nodes"] else
                 f"phase 2 (steps of node {ph['node']})" if "node" in ph else "bisection (VM steps)")
        out.append(f"<h2>{e(title)}: {len(ph['rounds'])} rounds</h2>" + LEGEND * (i == 0) + bisection_svg(ph))
    if d["outcome"]:
        o = d["outcome"]
        out.append(f'<h2>Outcome</h2><p class="{"bad" if o["winner_side"] == "challenger" else "ok"}">'
                   f'<b>{e(o["winner_side"])}</b> wins by {e(o["reason"])} · paid {eth(o["paid"])} · burnt '
                   f'{eth(o["burnt"])}</p>')
    if d["proof"]:
        pr = d["proof"]
        rows = [[e(k), f'<span class="mono">{e(pr[k])}</span>'] for k in ("step", "pc", "word", "mnemonic", "lo", "hi")
                if k in pr]
        rows += [[f'${e(r["name"])} (r{r["reg"]})', f'<span class="mono">{e(r["value"])}</span>']
                 for r in pr.get("registers", [])]
        if "memory" in pr:
            m = pr["memory"]
            rows.append([e(m["kind"]), f'<span class="mono">{e(m["address"])}</span>'])
        if "note" in pr or "error" in pr:
            rows.append(["note", e(pr.get("note") or pr.get("error"))])
        out.append("<h2>One-step proof</h2>" + table(["field", "value"], rows))
    out.append("<h2>Moves</h2>" + table(
        ["block", "time", "who", "move", "gas", "tx"],
        [[e(m["block"]), e(when(m["time"])), f'{e(m["who"])} {short(m["by"])}', e(m["what"]), f'{m["gas"]:,}',
          f'<span class="mono" title="{e(m["tx"])}">{e(m["tx"][:14])}…</span>'] for m in d["moves"]]))
    return "".join(out)


def request(d: dict[str, Any]) -> str:
    """The request page's main block."""
    out = [f'<h1>Request #{e(d["ref"])} {pill(d["status"])}</h1>',
           f'<p>model {d["model"]} · fee {eth(d["fee"])} · requester {short(d["requester"])}{entry_note(d["ref"])}'
           f' · deadline '
           f'{when(d["deadline"])}{" · callback " + short(d["callback"]) if d["callback"] else ""}</p>']
    inp = d.get("input")
    if inp:
        img = f'<img alt="input" src="{inp["image"]}" width="112" height="112" style="image-rendering:pixelated">' \
            if "image" in inp else ""
        shape = "x".join(str(s) for s in inp.get("shape", [])) or "bytes"
        rng = f' · range [{inp["min"]:.4g}, {inp["max"]:.4g}]' if "min" in inp else ""
        out.append(f'<h2>Input</h2><p>{inp["bytes"]:,} bytes · float32 {e(shape)}{rng}</p>{img}')
    if d.get("answer"):
        a = d["answer"]
        top = (a.get("output") or {}).get("top")
        what = f'class <b>{top[0]["class"]}</b>' if top else e(a["outcome"])
        out.append(f'<h2>Answer</h2><p class="ok">finalized: {what} (result {a["id"]})</p>')
    rows = []
    for r in d["results"]:
        rows.append([result_label(r["id"], r.get("leaf")), short(r["operator"]), pill(r["status"]), e(r["outcome"]),
                     output_html(r.get("output"), r["outcome"]), f'{r["steps"]:,}',
                     left(r["window_left"]) if r["status"] == "pending" else "", games_html(r["games"]),
                     e(r.get("verdict", ""))])
    out.append("<h2>Results</h2>" + table(
        ["result", "operator", "status", "outcome", "top classes", "steps", "window", "games", "verdict"], rows,
        "no result posted yet"))
    return "".join(out)


def entry_note(ref: str) -> str:
    """` · entry I of request batch RB` for an entry ref, else nothing."""
    if ":" not in ref:
        return ""
    rb, _, i = ref.partition(":")
    return f' · entry {e(i)} of <a href="/request-batch/{e(rb)}#entry-{e(i)}">request batch #{e(rb)}</a>'


def request_batch(d: dict[str, Any]) -> str:
    """The request batch page's main block."""
    states = " · ".join(f'{pill(k)} {v}' for k, v in sorted(d["states"].items()))
    blobs = f' ({len(d["blob_hashes"])} blob(s))' if d["blob_hashes"] else ""
    out = [f'<h1>Request batch #{d["id"]}</h1>',
           f'<p>model {d["model"]} ({e(d["model_name"])}) · requester {short(d["requester"])} · {d["count"]} entries'
           f' · fee {eth(d["fee"])} each · deadline {when(d["deadline"])} ({left(d["deadline_left"])})'
           f'{" · reopened entries" if d["reopened"] else ""}</p>',
           f'<p>{states} · answered {d["answered"]} · taken {d["taken"]}</p>',
           f'<p class="bad">{e(d["error"])}</p>' if d["error"] else "",
           f'<p>inputs root <span class="mono">{e(d["inputs_root"])}</span> · inputs ({d["input_length"]} bytes '
           f'each) in {e(d["via"])}{blobs}: {e(d["inputs"]["where"])} · tx <span class="mono">{e(d["tx"][:18])}…'
           '</span></p>']
    out.append("<h2>Entry batches answering it</h2>" + table(
        ["batch", "operator", "leaves", "disputed", "window", "settled"],
        [[f'<a href="/batch/{b["id"]}">#{b["id"]}</a>', short(b["operator"]), e(b["count"]), e(b["disputed"]),
          window(b), pill("finalized" if b["settled"] else "pending")] for b in d["batches"]], "none yet"))
    rows = []
    for x in d["entries"]:
        answers = "<br>".join(
            f'<a href="/batch/{a["batch"]}">leaf {a["position"]} of batch {a["batch"]}</a> by {short(a["operator"])}'
            f' · {e(a["steps"])} steps{" · rejected" if a["rejected"] else ""}'
            f'{" (malformed input)" if a["malformed"] else ""} {games_html(a["games"])}' for a in x["answers"])
        inp = x.get("input")
        inp_html = "" if inp is None else (f'{inp["bytes"]} B' + ("" if inp["matches_root"] else
                                                                 ' <span class="bad">does not match its root</span>')
                                           + ("" if inp["well_formed"] else ' <span class="bad">malformed</span>'))
        ref = f'<span id="entry-{x["index"]}">{e(x["ref"])}</span>'
        if x["in_optimist"]:
            ref += f'<br>request {request_link(x["ref"])}'
        rows.append([ref, pill(x["state"]), e(x["words"]), answers, output_html(x.get("output")), inp_html,
                     f'<span class="mono" title="{e(x["input_root"])}">{e(x["input_root"][:14])}…</span>'])
    out.append("<h2>Entries</h2>" + table(["entry", "state", "in words", "answers", "output", "input", "input root"],
                                          rows))
    return "".join(out)


def batch(d: dict[str, Any]) -> str:
    """The batch page's main block (a result batch or an entry batch)."""
    what = (f'entry batch answering <a href="/request-batch/{d["request_batch"]}">request batch '
            f'#{d["request_batch"]}</a>' if d["request_batch"] else "result batch (postBatch) on Optimist requests")
    out = [f'<h1>Batch #{d["id"]} {pill("finalized" if d["settled"] else "pending")}</h1>',
           f'<p>{what} · model {d["model"]} · operator {short(d["operator"])} · {d["count"]} leaves · disputed '
           f'{d["disputed"]} · window {window(d)} · outputs in {e(d["outputs_in"])}</p>',
           f'<p>root <span class="mono">{e(d["root"])}</span> · tx <span class="mono">{e(d["tx"][:18])}…</span></p>',
           "<p>output hash of a leaf: " + ("the tensor root of its output (a graph model: slot m of its C_m)"
                                           if d["output_hash_kind"] == "tensor_root" else "keccak256 of its output")
           + "</p>"]
    rows = []
    for x in d["leaves"]:
        if x["status"] == "unreadable":
            rows.append([e(x["index"]), "", pill(x["status"]), e(x["words"]), "", "", "", ""])
            continue
        req = entry_link(x["request"], x["request_in_optimist"]) if ":" in x["request"] else request_link(x["request"])
        rows.append([e(x["index"]), req, pill(x["status"]), e(x["words"]), e(x["outcome"]), f'{x["steps"]:,}',
                     output_html(x.get("output"), x["outcome"]), games_html(x["games"])])
    out.append("<h2>Leaves</h2>" + table(["leaf", "request", "status", "in words", "outcome", "steps", "output",
                                          "games"], rows))
    return "".join(out)


def not_found(message: str) -> str:
    return f'<h1>Not found</h1><p>{e(message)}</p><p><a href="/">back to the overview</a></p>'
