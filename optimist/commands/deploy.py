"""`optimist deploy | register`: put the contracts and models on a chain."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from optimist import deployment as dep
from optimist.commands.common import (
    ETHER,
    connect,
    console,
    ether,
    handle_errors,
    key_options,
    open_system,
    rpc_option,
    signer,
)

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
@handle_errors
def deploy(rpc: str, deployment_path: Path | None, key_env: str, keystore: Path | None, password_env: str,
           output: Path | None, window: int, clock: int, result_bond: int, challenge_bond: int) -> None:
    """Deploy MIPS.sol and the Optimist contract; write the deployment file."""
    from contracts.system import deploy_system

    w3 = connect(rpc)
    account = signer(w3, key_env, keystore, password_env)
    with console.status("compiling and deploying MIPS + Optimist"):
        system = deploy_system(w3, challenge_window=window, clock=clock, result_bond=result_bond,
                               challenge_bond=challenge_bond, sender=account.address)
    p = system.params
    d = dep.Deployment(w3.eth.chain_id, system.address, p.mips, system.last_receipt["blockNumber"]
                       if system.last_receipt else w3.eth.block_number, rpc, p.challenge_window, p.clock,
                       p.result_bond, p.challenge_bond)
    path = d.save(output or deployment_path or dep.default_path())
    table = Table(title="optimist deployed")
    table.add_column("field")
    table.add_column("value")
    for k, v in (("Optimist", d.optimist), ("MIPS", d.mips), ("chain id", d.chain_id), ("block", d.block),
                 ("challenge window", f"{d.challenge_window} s"), ("clock", f"{d.clock} s"),
                 ("result bond", ether(d.result_bond)), ("challenge bond", ether(d.challenge_bond)),
                 ("deployment file", str(path))):
        table.add_row(k, str(v))
    console.print(table)


# ------------------------------------------------------------------------------------- register

@click.command("register")
@click.argument("model")
@rpc_option
@key_options
@handle_errors
def register(model: str, rpc: str, deployment_path: Path | None, key_env: str, keystore: Path | None,
             password_env: str) -> None:
    """Register MODEL (a .mdnn file) and print its model id."""
    from challenger.models import parse_model_spec

    served = parse_model_spec(model)
    w3 = connect(rpc)
    account = signer(w3, key_env, keystore, password_env)
    system, _ = open_system(w3, deployment_path)
    with console.status(f"building the VM image of {model}"):
        image = served.image
    model_id = system.register_model(image, sender=account.address)
    table = Table(title=f"model {model_id} registered")
    table.add_column("field")
    table.add_column("value")
    for k, v in (("model id", model_id), ("image root", "0x" + image.image_root.hex()),
                 ("model hash", "0x" + image.model_hash.hex()), ("entry", f"{image.entry:#x}"),
                 ("input", f"{image.input_length} bytes at {image.input_base:#x}"),
                 ("output", f"{image.output_length} bytes at {image.output_base:#x}"),
                 ("gas", system.last_receipt["gasUsed"] if system.last_receipt else "?")):
        table.add_row(k, str(v))
    console.print(table)


