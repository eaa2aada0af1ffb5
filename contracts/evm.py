"""A fast in-process EVM (pyrevm, Cancun) to deploy the compiled contracts and call them in fuzz tests and gas runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak
from pyrevm import EVM

from contracts.compile import compile_contracts, staged_sources

DEPLOYER = "0x" + "0d" * 20
_REVERT = re.compile(r"Revert \{ gas_used: (\d+), output: 0x([0-9a-fA-F]*) \}")


MIPS_SOURCES = ("MIPS.sol", "MIPSMemory.sol")


def compile_mips() -> dict[str, dict[str, Any]]:
    """Artifacts of MIPS.sol and its library alone (unaffected by the other contracts' state of work)."""
    return compile_contracts(staged_sources(MIPS_SOURCES, "mips_src"))


class EVMRevert(Exception):
    """A call reverted; `data` is the raw revert data (selector + ABI-encoded arguments)."""

    def __init__(self, data: bytes, gas_used: int, abi: list[dict[str, Any]] | None = None) -> None:
        self.data = data
        self.gas_used = gas_used
        self.error, self.args_ = decode_error(data, abi or [])
        super().__init__(f"reverted with {self.error}{self.args_} (0x{data.hex()})")


class EVMHalt(Exception):
    """The EVM halted abnormally (out of gas, invalid opcode, ...)."""


def selector(signature: str) -> bytes:
    """The 4-byte selector of a function or error signature such as 'step(bytes,bytes)'."""
    return keccak(text=signature)[:4]


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter: a struct ('tuple', 'tuple[]') as '(t1,t2,...)' with its suffix."""
    kind = param["type"]
    if not kind.startswith("tuple"):
        return kind
    return f"({','.join(abi_type(c) for c in param['components'])}){kind[len('tuple'):]}"


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"


def decode_error(data: bytes, abi: list[dict[str, Any]]) -> tuple[str, tuple[Any, ...]]:
    """Name and arguments of a custom error in `abi` matching the revert data ('?' if unknown)."""
    for item in abi:
        if item.get("type") == "error" and selector(_signature(item)) == data[:4]:
            return item["name"], tuple(decode([abi_type(i) for i in item["inputs"]], data[4:]))
    return "?", ()


@dataclass
class Contract:
    """A deployed contract in a LocalEVM; `call` ABI-encodes arguments and decodes outputs."""

    evm: LocalEVM
    address: str
    abi: list[dict[str, Any]]

    def _function(self, name: str) -> dict[str, Any]:
        for item in self.abi:
            if item.get("type") == "function" and item["name"] == name:
                return item
        raise KeyError(f"no function {name!r} in the ABI")

    def call(self, name: str, *args: Any) -> Any:
        """Call `name(*args)`; returns the single output or a tuple; raises EVMRevert on revert."""
        fn = self._function(name)
        data = selector(_signature(fn)) + encode([abi_type(i) for i in fn["inputs"]], list(args))
        out = decode([abi_type(o) for o in fn["outputs"]], self.evm.transact(self.address, data, self.abi))
        return out[0] if len(out) == 1 else out

    @property
    def gas_used(self) -> int:
        """Gas of the last call as a transaction (intrinsic 21000 + calldata + execution)."""
        return self.evm.gas_used


class LocalEVM:
    """One pyrevm instance with a funded deployer; deploy contracts by name from contracts/src."""

    def __init__(self, spec_id: str = "CANCUN") -> None:
        self.evm = EVM(spec_id=spec_id)
        self.evm.set_balance(DEPLOYER, 10**24)
        self.gas_used = 0

    def deploy(self, name: str, artifacts: dict[str, dict[str, Any]] | None = None) -> Contract:
        """Deploy the compiled contract `name` (no constructor arguments)."""
        arts = artifacts or compile_contracts()
        if name not in arts:
            raise KeyError(f"no contract {name!r} in contracts/src (have {sorted(arts)})")
        address = self.evm.deploy(DEPLOYER, bytes.fromhex(arts[name]["bytecode"][2:]))
        return Contract(self, address, arts[name]["abi"])

    def runtime_size(self, address: str) -> int:
        """Deployed runtime bytecode size in bytes."""
        return len(self.evm.get_code(address) or b"")

    def transact(self, to: str, data: bytes, abi: list[dict[str, Any]] | None = None) -> bytes:
        """Raw call from the deployer; records gas; raises EVMRevert or EVMHalt."""
        try:
            out = self.evm.message_call(DEPLOYER, to, data)
        except RuntimeError as exc:
            m = _REVERT.search(str(exc))
            if m is None:
                raise EVMHalt(str(exc)) from exc
            self.gas_used = int(m.group(1))
            raise EVMRevert(bytes.fromhex(m.group(2)), self.gas_used, abi) from None
        self.gas_used = self.evm.result.gas_used
        return bytes(out)
