"""Conversion errors: each says what is wrong and how to fix it, in one line."""

from __future__ import annotations


class ConversionError(Exception):
    """Base class of every error the converter reports to the user."""


class InvalidModelError(ConversionError):
    """The file is not a loadable, well-formed ONNX model (truncated, corrupt, fails the checker)."""


class OpsetError(ConversionError):
    """The model's default-domain opset is outside the supported range."""


class UnsupportedOpError(ConversionError):
    """A node whose op type (or domain) minidnn does not implement."""

    def __init__(self, node: str, op_type: str, what: str) -> None:
        super().__init__(f"node '{node}' ({op_type}): {what}")
        self.node, self.op_type, self.what = node, op_type, what


def grouped_message(errors: list[ConversionError], supported: list[str]) -> str:
    """Several conversion errors as one message: grouped by op and problem, with counts."""
    groups: dict[tuple[str, str], list[str]] = {}
    for exc in errors:
        if isinstance(exc, UnsupportedOpError):
            what = exc.what.split(" (supported: ")[0]  # the list is printed once, below
            groups.setdefault((exc.op_type, what), []).append(exc.node)
        else:
            groups.setdefault((type(exc).__name__, str(exc)), []).append("")
    lines = [f"{len(errors)} nodes cannot be converted ({len(groups)} distinct problems):"]
    for (op, what), nodes in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        named = [f"'{n}'" for n in nodes if n]
        shown = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
        lines.append(f"  {op} x{len(nodes)}: {what}" + (f" (nodes {shown})" if shown else ""))
    lines.append(f"supported ops: {', '.join(supported)}")
    return "\n".join(lines)


class UnsupportedOpsError(UnsupportedOpError):
    """Several unsupported ops/attributes in one model: all of them in one error, with counts."""

    def __init__(self, errors: list[ConversionError], supported: list[str]) -> None:
        message = grouped_message(errors, supported)
        ConversionError.__init__(self, message)
        self.node, self.op_type, self.what = "<graph>", "ops", message.splitlines()[0]
        self.errors = errors


def combined_error(errors: list[ConversionError], supported: list[str]) -> ConversionError:
    """One error for all of `errors`: the error itself if alone, a DtypeError if all are dtype
    errors, else an UnsupportedOpsError."""
    if len(errors) == 1:
        return errors[0]
    if all(isinstance(e, DtypeError) for e in errors):
        return DtypeError(grouped_message(errors, supported))
    return UnsupportedOpsError(errors, supported)


class UnsupportedAttributeError(UnsupportedOpError):
    """A supported op used with an attribute value (or input form) minidnn does not implement."""


class DynamicShapeError(ConversionError):
    """An input (or derived tensor) has a symbolic or unknown dimension."""


class DtypeError(ConversionError):
    """A tensor that is not float32 where minidnn needs float32."""


class InputShapeError(ConversionError):
    """A malformed or inconsistent --input-shape / --example-shape specification."""


class VerificationError(ConversionError):
    """minidnn's output is further from onnxruntime's than the documented tolerance."""


class TorchUnavailableError(ConversionError):
    """The optional torch extra is not installed."""
