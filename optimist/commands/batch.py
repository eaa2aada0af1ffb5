"""`optimist request-batch | cancel-batch`: many inputs in one transaction (docs/game-rules.md §3b), and the
refund of entries nobody took. `optimist status RB:I` shows an entry (optimist/commands/request.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from optimist.commands.common import (
    ETHER,
    EXIT_ERROR,
    EXIT_KEY,
    EXIT_NOT_FOUND,
    EXIT_REVERT,
    ChainId,
    CommandError,
    KeySource,
    bad_deadline,
    connect,
    console,
    deadline_after,
    ether,
    handle_errors,
    key_options,
    moment,
    open_system,
    rpc_message,
    rpc_option,
    signer,
)
from optimist.commands.request import Duration, read_input


def stacked_inputs(path: Path, input_type: str) -> list[bytes]:
    """The rows of a .npy / .json array (first axis: one input each) as input bytes."""
    from optimist.inputs import read_array

    if not path.is_file():
        raise CommandError(f"input file {path} does not exist", EXIT_NOT_FOUND)
    x = read_array(path, param_hint="--stacked", dtype=input_type)
    if x.ndim < 2 or x.shape[0] == 0:
        raise click.BadParameter(f"{path}: give an array of shape (inputs, ...), got shape {x.shape}",
                                 param_hint="--stacked")
    dtype = "<i4" if input_type == "int32" else "<f4"
    return [row.astype(dtype).tobytes() for row in x]


def check_lengths(data: list[bytes], want: int, model_id: int, input_type: str, files: tuple[Path, ...],
                  stacked: Path | None) -> None:
    """Every input has the model's `want` bytes; else one line naming the file (or row) and what to do."""
    for i, x in enumerate(data):
        if len(x) == want:
            continue
        takes = f"model {model_id} takes {want} input bytes ({want // 4} {input_type})"
        if stacked is not None:
            hint = f"; the whole array is one input: give {stacked} as a file (INPUTS), not --stacked" \
                if sum(map(len, data)) == want else ""
            raise CommandError(f"{takes}; each row of --stacked {stacked} has {len(x)} bytes ({len(x) // 4} "
                               f"values){hint}", EXIT_ERROR)
        hint = f"; if it holds {len(x) // want} inputs, one per row, give it as --stacked {files[i]}" \
            if len(x) > want and len(x) % want == 0 else ""
        raise CommandError(f"{takes}; {files[i]} has {len(x)} bytes{hint}", EXIT_ERROR)


def too_large(exc: Exception, data: list[bytes]) -> CommandError | None:
    """A clear error when the node refuses a calldata request batch as too large (anvil: 'Invalid request'
    for an oversized HTTP body; geth: 'oversized data'), else None."""
    message = rpc_message(exc)
    if not any(w in message.lower() for w in ("invalid request", "oversized", "too large")):
        return None
    size = sum(map(len, data))
    return CommandError(f"the node refused the transaction ({message}): {len(data)} inputs put {size:,} bytes in "
                        "calldata, more than it takes; send fewer inputs per request batch, or send them in blobs "
                        "(--blobs, on a chain with EIP-4844)", EXIT_ERROR)


class RequestBatchId(ChainId):
    """A request batch id; an entry RB:I is refused with its request batch named."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, str) and ":" in value:
            rb = value.partition(":")[0].strip()
            self.fail(f"{value!r} is an entry; give its request batch id ({rb or 'RB'}), the number before ':'",
                      param, ctx)
        return super().convert(value, param, ctx)


@click.command("request-batch")
@click.argument("model_id", type=ChainId("model id"))
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--stacked", "stacked", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="One .npy/.json array holding every input along its first axis (instead of INPUTS).")
@click.option("--fee-each", type=ETHER, default=None,
              help="Fee per entry, paid to the operator whose answer stands [default: 0.01ether].")
@click.option("--fee-total", type=ETHER, default=None,
              help="Fee for the whole batch; must split evenly over the entries (instead of --fee-each).")
@click.option("--blobs/--calldata", "blobs", default=None,
              help="Send the inputs in EIP-4844 blobs, or in calldata [default: blobs when the chain supports "
                   "them, else calldata].")
@click.option("--input-type", type=click.Choice(["float32", "int32"]), default="float32", show_default=True,
              help="What the model takes: float32 numbers, or int32 token ids.")
@click.option("--cancel-after", type=Duration(), default=None,
              help="Allow cancelling the untaken entries (fees back) after this long (default: the contract's "
                   "maximum, 30 days).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@rpc_option
@key_options
@handle_errors
def request_batch(model_id: int, inputs: tuple[Path, ...], stacked: Path | None, fee_each: int | None,
                  fee_total: int | None, blobs: bool | None, input_type: str, cancel_after: int | None,
                  as_json: bool, rpc: str, deployment_path: Path | None, key: KeySource) -> None:
    """Ask for MODEL_ID run on many inputs in one transaction; prints the request batch id and its entries.

    INPUTS: one file per input, a .npy or .json array (numbers as --input-type) or raw bytes; or all of them as
    the rows of one array with --stacked FILE. Follow an entry with `optimist status RB:I`."""
    from web3.exceptions import Web3RPCError

    from contracts.system import MAX_REQUEST_TIME, ContractRevert
    from optimist.entries import (
        EntryError,
        batch_model_input_length,
        format_ref,
        split_fee,
        submit_request_batch,
        supports_blobs,
    )

    if bool(inputs) == (stacked is not None):
        raise click.UsageError("give the inputs as files (INPUTS...) or as one array (--stacked FILE), not both"
                               if inputs else "give the inputs: files (INPUTS...) or one array (--stacked FILE)")
    if fee_each is not None and fee_total is not None:
        raise click.UsageError("give --fee-each (per entry) or --fee-total (the whole batch), not both")
    if cancel_after is not None and not 0 < cancel_after <= MAX_REQUEST_TIME:
        raise click.BadParameter(f"must be 1 s .. {MAX_REQUEST_TIME // 86400} days", param_hint="--cancel-after")
    data = [read_input(p, input_type, param_hint="INPUTS") for p in inputs] if inputs else \
        stacked_inputs(stacked, input_type)  # type: ignore[arg-type]
    try:
        each = split_fee(fee_total, len(data)) if fee_total is not None else \
            10**16 if fee_each is None else fee_each
    except EntryError as exc:
        raise click.BadParameter(str(exc), param_hint="--fee-total") from None
    w3 = connect(rpc)
    account = signer(w3, key)
    balance = w3.eth.get_balance(account.address)
    if each * len(data) >= balance:
        raise CommandError(f"account {account.address} holds {ether(balance)}, not enough for the fees of "
                           f"{ether(each * len(data))} and gas", EXIT_KEY)
    system, _ = open_system(w3, deployment_path)
    try:
        want = batch_model_input_length(system, model_id)
    except EntryError as exc:
        raise CommandError(str(exc), EXIT_NOT_FOUND if str(exc).startswith("unknown model") else EXIT_ERROR) \
            from None
    check_lengths(data, want, model_id, input_type, inputs, stacked)
    fallback = blobs is None and not supports_blobs(w3)
    deadline = None if cancel_after is None else deadline_after(w3, cancel_after)
    try:
        sub = submit_request_batch(system, model_id, data, each, sender=account.address, blobs=blobs,
                                   private_key=account.key, deadline=deadline)
    except EntryError as exc:
        raise CommandError(str(exc), EXIT_NOT_FOUND if str(exc).startswith("unknown model") else EXIT_ERROR) \
            from None
    except ContractRevert as exc:
        raise bad_deadline(exc, cancel_after) or exc from None
    except Web3RPCError as exc:
        raise (too_large(exc, data) if blobs is False or fallback else None) or exc from None
    refs = [format_ref(r) for r in sub.refs]
    if as_json:
        click.echo(json.dumps({"request_batch": sub.request_batch_id, "model": model_id, "entries": refs,
                               "request_ids": sub.refs, "fee_each_wei": each, "fee_total_wei": each * len(refs),
                               "via": sub.via, "blobs": sub.blobs, "gas": sub.gas, "blob_gas": sub.blob_gas,
                               "tx": "0x" + sub.tx_hash.hex()}))
        return
    if fallback:
        console.print("this chain does not support blob transactions: the inputs go in calldata", soft_wrap=True)
    via = f"blobs ({sub.blobs} blob{'s' if sub.blobs > 1 else ''})" if sub.via == "blobs" else "calldata"
    entries = f"{len(refs)} entr{'y' if len(refs) == 1 else 'ies'}"
    console.print(f"request batch [bold]{sub.request_batch_id}[/] created (model {model_id}, {entries}, "
                  f"fee {ether(each)} each = {ether(each * len(refs))}, inputs in {via})", soft_wrap=True)
    blob_gas = f", blob gas {sub.blob_gas:,}" if sub.via == "blobs" else ""
    console.print(f"gas {sub.gas:,} ({sub.gas // len(refs):,} per entry){blob_gas}", soft_wrap=True)
    shown = refs if len(refs) <= 16 else [*refs[:8], "...", *refs[-4:]]
    console.print(f"entries: {' '.join(shown)}  (follow one with `optimist status {refs[0]}`)", soft_wrap=True)


CANCEL_REVERTS = {
    "NotRequester": "only the requester of request batch {rb} ({requester}) can cancel its entries, not {me} "
                    "(fix: --account or --key-env of the requester)",
    "DeadlineNotReached": "request batch {rb} can be cancelled only after its deadline, {when}",
    "NothingToCancel": "every entry of request batch {rb} was taken (answered, void or cancelled): nothing to cancel",
    "UnknownRequestBatch": "unknown request batch {rb}",
}


@click.command("cancel-batch")
@click.argument("request_batch_id", type=RequestBatchId("request batch id"))
@rpc_option
@key_options
@handle_errors
def cancel_batch(request_batch_id: int, rpc: str, deployment_path: Path | None, key: KeySource) -> None:
    """Cancel the entries of your request batch nobody took, after its deadline; their fees come back."""
    from contracts.system import ContractRevert

    w3 = connect(rpc)
    account = signer(w3, key)
    system, _ = open_system(w3, deployment_path)
    try:
        receipt_count = system.cancel_entries(request_batch_id, sender=account.address)
    except ContractRevert as exc:
        words = CANCEL_REVERTS.get(exc.name)
        if words is None:
            raise
        fields: dict[str, Any] = {"rb": request_batch_id, "me": account.address, **exc.fields}
        if exc.name == "NotRequester":
            fields["requester"] = system.request_batch_info(request_batch_id).requester
        if exc.name == "DeadlineNotReached":
            now = max(int(w3.eth.get_block("latest")["timestamp"]), int(time.time()))
            fields["when"] = moment(int(exc.fields["deadline"]), now)
        code = EXIT_NOT_FOUND if exc.name == "UnknownRequestBatch" else EXIT_REVERT
        raise CommandError(words.format(**fields) + f" ({exc.name})", code) from None
    refund = receipt_count * system.request_batch_info(request_batch_id).fee
    withdrawn = system.withdraw(sender=account.address)   # every credit of the account: these fees and any other
    other = f" (withdrawn with the account's other credits: {ether(withdrawn)} in all)" if withdrawn != refund else ""
    console.print(f"request batch [bold]{request_batch_id}[/]: {receipt_count} entr{'y' if receipt_count == 1 else 'ies'}"
                  f" cancelled; {ether(refund)} returned to {account.address}{other}", soft_wrap=True)
