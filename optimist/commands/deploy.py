"""`optimist deploy | register`: put the contracts and models on a chain."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from optimist import deployment as dep
from optimist.commands.common import (
    ETHER,
    EXIT_ERROR,
    CommandError,
    KeySource,
    check_model_files,
    connect,
    console,
    ether,
    handle_errors,
    key_options,
    open_system,
    rpc_option,
    signer,
)

if TYPE_CHECKING:
    from contracts.system import ModelImage

# ------------------------------------------------------------------------------------- deploy

@click.command("deploy")
@rpc_option
@key_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the deployment JSON (default ./optimist-deployment.json).")
@click.option("--window", default=3600, show_default=True, help="Challenge window in seconds.")
@click.option("--clock", default=1800, show_default=True, help="Each side's chess clock in seconds.")
@click.option("--result-bond", type=ETHER, default="0.1ether", show_default=True, help="Operator bond per result.")
@click.option("--challenge-bond", type=ETHER, default="0.1ether", show_default=True,
              help="Challenger bond per game.")
@click.option("--burn-bps", type=click.IntRange(1, 10_000), default=5000, show_default=True,
              help="Share of a losing bond burnt, in basis points (5000 = half).")
@click.option("--reopen-delay", type=click.IntRange(1, 3600), default=12, show_default=True,
              help="Seconds a rejected request stays closed before any operator may answer it again.")
@click.option("--json", "as_json", is_flag=True, help="Print the deployment as one JSON object.")
@handle_errors
def deploy(rpc: str, deployment_path: Path | None, key: KeySource,
           output: Path | None, window: int, clock: int, result_bond: int, challenge_bond: int, burn_bps: int,
           reopen_delay: int, as_json: bool) -> None:
    """Deploy MIPS.sol and the Optimist contract; write the deployment file."""
    from contracts.system import check_params, deploy_system

    try:
        check_params(window, clock, result_bond, challenge_bond, burn_bps, reopen_delay)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    w3 = connect(rpc)
    account = signer(w3, key)
    with console.status("compiling and deploying MIPS + Optimist") if not as_json else contextlib.nullcontext():
        system = deploy_system(w3, challenge_window=window, clock=clock, result_bond=result_bond,
                               challenge_bond=challenge_bond, burn_bps=burn_bps, reopen_delay=reopen_delay,
                               sender=account.address)
    p = system.params
    d = dep.Deployment(w3.eth.chain_id, system.address, p.mips, system.last_receipt["blockNumber"]
                       if system.last_receipt else w3.eth.block_number, rpc, p.challenge_window, p.clock,
                       p.result_bond, p.challenge_bond)
    path = d.save(output or deployment_path or dep.default_path())
    if as_json:
        click.echo(json.dumps({"optimist": d.optimist, "mips": d.mips, "chain_id": d.chain_id, "block": d.block,
                               "challenge_window": d.challenge_window, "clock": d.clock,
                               "result_bond": d.result_bond, "challenge_bond": d.challenge_bond,
                               "burn_bps": p.burn_bps, "reopen_delay": p.reopen_delay, "deployment_file": str(path)}))
        return
    table = Table(title="optimist deployed")
    table.add_column("field")
    table.add_column("value")
    for k, v in (("Optimist", d.optimist), ("MIPS", d.mips), ("chain id", d.chain_id), ("block", d.block),
                 ("challenge window", f"{d.challenge_window} s"), ("clock", f"{d.clock} s"),
                 ("result bond", ether(d.result_bond)), ("challenge bond", ether(d.challenge_bond)),
                 ("burnt from a losing bond", f"{p.burn_bps / 100:g} %"), ("reopen delay", f"{p.reopen_delay} s"),
                 ("deployment file", str(path))):
        table.add_row(k, str(v))
    console.print(table)


# ------------------------------------------------------------------------------------- register

DEFAULT_PROGRAM_MAX_STEPS = 1 << 32   # an ELF program's bound when none is given (~10-30 s of fast runner)


def default_max_steps(model: str) -> int:
    """A .mdnn model's step bound: 8x its estimated steps (data-independent for these models), at least 2^20."""
    if model.endswith(".mdnn"):
        from converter.errors import ConversionError
        from converter.inspect import inspect_model

        try:
            estimate = inspect_model(Path(model).read_bytes()).estimated_steps
        except ConversionError as exc:
            raise CommandError(f"{model}: {exc}", EXIT_ERROR) from None
        return min(1 << 48, max(1 << 20, 8 * estimate))
    return DEFAULT_PROGRAM_MAX_STEPS


def model_json(model_id: int, image: ModelImage, max_steps: int, *, new: bool) -> dict[str, object]:
    """What `register --json` prints."""
    return {"model": model_id, "new": new, "image_root": "0x" + image.image_root.hex(),
            "model_hash": "0x" + image.model_hash.hex(), "entry": image.entry, "input_base": image.input_base,
            "input_length": image.input_length, "output_base": image.output_base,
            "output_length": image.output_length, "max_steps": max_steps}


@click.command("register")
@click.argument("model")
@click.option("--max-steps", type=click.IntRange(1, 1 << 48), default=None,
              help="Steps after which a run counts as 'did not halt' (default: 8x the model's estimated "
                   "steps for a .mdnn, 2^32 for a program).")
@click.option("--again", is_flag=True, help="Register even if this image is already registered.")
@click.option("--two-phase", is_flag=True,
              help="Register a .mdnn as a graph model: disputes bisect over its nodes natively, then over one "
                   "node's VM steps (docs/two-phase.md). Serve it with `optimist operator --two-phase`.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@rpc_option
@key_options
@handle_errors
def register(model: str, max_steps: int | None, again: bool, two_phase: bool, as_json: bool, rpc: str,
             deployment_path: Path | None, key: KeySource) -> None:
    """Register MODEL (a .mdnn file) and print its model id."""
    import dataclasses

    from challenger.models import parse_model_spec
    from contracts.system import ContractRevert

    check_model_files([model])
    if two_phase:
        if not model.endswith(".mdnn"):
            raise click.UsageError(f"--two-phase takes a .mdnn model, not {model!r}")
        if max_steps is not None:
            raise click.UsageError("--max-steps does not apply to --two-phase (each node's bound is measured)")
        register_graph(model, again, rpc, deployment_path, key)
        return
    served = parse_model_spec(model)
    w3 = connect(rpc)
    account = signer(w3, key)
    system, _ = open_system(w3, deployment_path)
    with console.status(f"building the VM image of {model}") if not as_json else contextlib.nullcontext():
        image = dataclasses.replace(served.image, max_steps=max_steps or default_max_steps(model))
    if not again:
        for model_id in range(1, system.counts()[0] + 1):
            try:
                info = system.model(model_id)
            except ContractRevert:   # a graph model (register --two-phase)
                continue
            if (info.image_root, info.entry, info.input_base, info.input_length, info.output_base,
                    info.output_length) == (image.image_root, image.entry, image.input_base, image.input_length,
                                            image.output_base, image.output_length):
                if as_json:
                    click.echo(json.dumps(model_json(model_id, image, info.max_steps, new=False)))
                    return
                console.print(f"{model} is already registered as model [bold]{model_id}[/] "
                              f"(max steps {info.max_steps:,}); pass --again for a new id")
                return
    model_id = system.register_model(image, sender=account.address)
    if as_json:
        gas = system.last_receipt["gasUsed"] if system.last_receipt else None
        click.echo(json.dumps(model_json(model_id, image, image.max_steps, new=True) | {"gas": gas}))
        return
    table = Table(title=f"model {model_id} registered")
    table.add_column("field")
    table.add_column("value")
    for k, v in (("model id", model_id), ("image root", "0x" + image.image_root.hex()),
                 ("model hash", "0x" + image.model_hash.hex()), ("entry", f"{image.entry:#x}"),
                 ("input", f"{image.input_length} bytes at {image.input_base:#x}"),
                 ("output", f"{image.output_length} bytes at {image.output_base:#x}"),
                 ("max steps", f"{image.max_steps:,}"),
                 ("gas", system.last_receipt["gasUsed"] if system.last_receipt else "?")):
        table.add_row(k, str(v))
    console.print(table)
    console.print("Before trusting this model, a requester checks that the image root is rebuilt from the "
                  f"model file whose hash is 0x{image.model_hash.hex()} (`optimist register {model}` on "
                  "another deployment, or the challenger daemon, which serves a model only when its own "
                  "build gives the registered root). An image nobody can rebuild cannot be challenged.",
                  soft_wrap=True)


def register_graph(model: str, again: bool, rpc: str, deployment_path: Path | None, key: KeySource) -> None:
    """`optimist register --two-phase MODEL.mdnn`: split the graph, measure every node in the VM, register
    the descriptors' nodesRoot (Optimist.registerGraphModel)."""
    from challenger.graph_games import GraphModel
    from contracts.system import ContractRevert

    graph = GraphModel(model)
    w3 = connect(rpc)
    account = signer(w3, key)
    system, _ = open_system(w3, deployment_path)
    with console.status(f"splitting {model} into {graph.node_count} nodes and running each in the VM"):
        spec = graph.spec()
    if not again:
        for model_id in range(1, system.counts()[0] + 1):
            try:
                info = system.graph_model(model_id)
            except ContractRevert:
                continue
            if graph.matches(info.nodes_root, info.node_count, info.input_length, info.output_length, info.period):
                console.print(f"{model} is already registered as graph model [bold]{model_id}[/]; "
                              "pass --again for a new id")
                return
    model_id = system.register_graph_model(spec, sender=account.address)
    c = graph.commitment
    largest = max(range(graph.node_count), key=lambda i: c.steps[i])
    table = Table(title=f"graph model {model_id} registered (two-phase games)")
    table.add_column("field")
    table.add_column("value")
    for k, v in (("model id", model_id), ("nodes root", "0x" + spec.nodes_root.hex()),
                 ("model hash", "0x" + spec.model_hash.hex()), ("nodes", graph.node_count),
                 ("input", f"{spec.input_length} bytes"), ("output", f"{spec.output_length} bytes"),
                 ("largest node", f"{largest + 1} ({graph.split.nodes[largest].op}): {c.steps[largest]:,} VM steps, "
                                  f"max steps {c.specs[largest].max_steps:,}"),
                 ("gas", system.last_receipt["gasUsed"] if system.last_receipt else "?")):
        table.add_row(k, str(v))
    console.print(table)
    console.print(f"Serve it with `optimist operator --two-phase --model {model}` (and a challenger likewise).",
                  soft_wrap=True)
