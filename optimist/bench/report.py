"""Showing bench results: machine info, rich tables, Markdown, and the scaling plot (matplotlib)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from rich.table import Table

from optimist.bench import fields as F
from optimist.bench.run import REPO, is_measured

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SCALING_BEGIN, SCALING_END = "<!-- scaling:begin -->", "<!-- scaling:end -->"


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    from importlib.metadata import PackageNotFoundError, version

    def ver(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "absent"

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "unicorn": ver("unicorn"), "py-evm": ver("py-evm"), "web3": ver("web3"), "commit": commit}


# ------------------------------------------------------------------------------ formatting

def fmt(value: Any, field: F.Field | None = None) -> str:
    """A figure for humans (strings - unavailable figures - as they are)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt(v)}" for k, v in value.items())
    if isinstance(value, int):
        return f"{value:,}"
    if field is not None and field.unit == "x":
        return f"{value:.3g}x" if value >= 0.01 else f"{value:.2e}x"
    if abs(value) >= 1e9:
        return f"{value / 1e9:.2f}G"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _unit(field: F.Field) -> str:
    return "" if field.unit in ("", "x") else field.unit


def with_unit(value: Any, field: F.Field) -> str:
    """A figure and its unit (an unavailable figure's reason alone)."""
    return fmt(value, field) if isinstance(value, str) else f"{fmt(value, field)} {_unit(field)}".strip()


def model_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"{result['name']}", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for field in F.MODEL_FIELDS:
        if field.key in result["figures"]:
            value = result["figures"][field.key]
            style = None if is_measured(value) else ("red" if value.startswith("error") else "yellow")
            table.add_row(field.label, fmt(value, field), _unit(field), style=style)
    return table


def system_table(system: dict[str, Any]) -> Table:
    table = Table(title="contracts", title_justify="left")
    table.add_column("figure")
    table.add_column("value")
    for field in F.SYSTEM_FIELDS:
        value = system["figures"].get(field.key, "n/a")
        if isinstance(value, dict):
            for i, (k, v) in enumerate(value.items()):
                table.add_row(field.label if i == 0 else "", f"{k}: {fmt(v)} {field.unit}")
        else:
            table.add_row(field.label, with_unit(value, field))
    return table


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: one column per model, then the contract figures and the machine."""
    models = report["models"]
    lines = ["| figure | unit | " + " | ".join(m["name"] for m in models) + " |",
             "|---|---|" + "---:|" * len(models)]
    for field in F.MODEL_FIELDS:
        if not any(field.key in m["figures"] for m in models):
            continue
        cells = [fmt(m["figures"][field.key], field) if field.key in m["figures"] else "" for m in models]
        cells = [c.replace("|", "\\|") for c in cells]
        lines.append(f"| {field.label.strip()} | {_unit(field)} | " + " | ".join(cells) + " |")
    lines += ["", "| contract figure | value |", "|---|---|"]
    for field in F.SYSTEM_FIELDS:
        value = report["system"]["figures"].get(field.key, "n/a")
        if isinstance(value, dict):
            for k, v in value.items():
                lines.append(f"| {field.label}: {k} | {fmt(v)} {field.unit} |")
        else:
            lines.append(f"| {field.label} | {with_unit(value, field)} |")
    m = report["machine"]
    lines += ["", f"Measured {report['date']} on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), "
              f"{m['os']}, Python {m['python']}, unicorn {m['unicorn']}, py-evm {m['py-evm']}, "
              f"commit {m['commit']}; mode: {report['mode']}." + _load(m)]
    lines += [f"{rec['name']} measured separately: {rec['measured']}." for rec in models if rec.get("measured")]
    return "\n".join(lines) + "\n"


def _load(machine: dict[str, Any]) -> str:
    load = machine.get("load_average")
    if not load:
        return ""
    return f" Load average at the end: {', '.join(map(str, load))} (other work on the machine slows the timings)."


def replace_section(text: str, begin: str, end: str, body: str) -> str:
    """`text` with the part between the `begin` and `end` markers replaced by `body`."""
    if begin not in text or end not in text:
        return text.rstrip() + f"\n\n{begin}\n{body}{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}{end}{tail}"


# ------------------------------------------------------------------------------ the plot

def _points(reports: list[dict[str, Any]], key: str) -> list[tuple[float, float, str]]:
    pts = []
    for rep in reports:
        for m in rep.get("models", []):
            f = m["figures"]
            if is_measured(f.get("macs", "")) and is_measured(f.get(key, "")) and key in f:
                pts.append((float(f["macs"]), float(f[key]), m["name"]))
    return sorted(pts)


def scaling_plot(reports: list[dict[str, Any]], path: Path) -> Path | None:
    """VM steps (left) and wall times (right) against MACs for every model in `reports` (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = _points(reports, "vm_steps")
    if not steps:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), dpi=110)
    left.loglog([p[0] for p in steps], [p[1] for p in steps], "o-", color="tab:blue")
    for x, y, name in steps:
        left.annotate(name, (x, y), textcoords="offset points", xytext=(5, -4), fontsize=7)
    left.set_title("VM steps (MIPS instructions) per inference")
    left.set_ylabel("steps")
    series = (("vm_s", "o-", "tab:blue", "VM run"),
              ("native_ms", "x-", "tab:gray", "native inference (ms -> s)"),
              ("dispute_eth_tester_s", "s--", "tab:orange", "full dispute, eth-tester"),
              ("dispute_anvil_s", "^--", "tab:green", "full dispute, anvil"))
    for key, style, color, label in series:
        pts = _points(reports, key)
        scale = 1e-3 if key.endswith("_ms") else 1.0
        if pts:
            right.loglog([p[0] for p in pts], [p[1] * scale for p in pts], style, color=color, label=label)
    right.set_title("wall time")
    right.set_ylabel("seconds")
    right.legend(fontsize=8, loc="lower right")
    for ax in (left, right):
        ax.set_xlabel("model multiply-accumulates (MACs)")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("optimist: cost vs model size (measured by `optimist bench`)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _points_by(reports: list[dict[str, Any]], size: str, key: str) -> list[tuple[float, float, str]]:
    """(model size, figure, model name) of every model measured for both, one point per model name (the
    last report's wins), sorted by size."""
    by_name: dict[str, tuple[float, float, str]] = {}
    for rep in reports:
        for m in rep.get("models", []):
            f = m["figures"]
            if is_measured(f.get(size, "")) and is_measured(f.get(key, "")) and size in f and key in f:
                by_name[m["name"]] = (float(f[size]), float(f[key]), m["name"])
    return sorted(by_name.values())


DISPUTE_SERIES = (("dispute_anvil_s", "o", "tab:green", "single-phase: bisection over the whole model's VM steps"),
                  ("dispute_two_phase_s", "s", "tab:purple",
                   "two-phase: nodes natively, then one node's VM steps"))


def dispute_plot(reports: list[dict[str, Any]], path: Path) -> Path | None:
    """Full dispute time on anvil (a lying operator against an honest challenger, request -> resolved)
    against model parameters, for both game kinds (log-log); None if no model has either figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [(key, style, color, label, _points_by(reports, "parameters", key))
              for key, style, color, label in DISPUTE_SERIES]
    if not any(pts for *_, pts in series):
        return None
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for _, style, color, label, pts in series:
        if pts:
            ax.loglog([p[0] for p in pts], [p[1] for p in pts], style, color=color, label=label)
            for x, y, name in pts:
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, -4), fontsize=7, color=color)
    ax.set_xlabel("model parameters")
    ax.set_ylabel("full dispute on anvil, seconds")
    ax.set_title("dispute time vs model size, by game kind (`optimist bench`)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
