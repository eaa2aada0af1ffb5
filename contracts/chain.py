"""Chains to run on: the embedded eth-tester (py-evm) and a local anvil started on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from web3 import Web3

REPO_ROOT = Path(__file__).resolve().parents[1]
ANVIL_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
ANVIL_SHIM = REPO_ROOT / "node_modules" / ".bin" / "anvil"
BLOCK_GAS_LIMIT = 1_000_000_000
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


class ChainError(RuntimeError):
    """A chain could not be started or reached."""


def eth_tester_web3(block_gas_limit: int = BLOCK_GAS_LIMIT) -> Web3:
    """An in-process eth-tester chain (py-evm) with a high block gas limit and funded accounts."""
    from eth_tester import EthereumTester, PyEVMBackend

    genesis = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": block_gas_limit})
    tester = EthereumTester(backend=PyEVMBackend(genesis_parameters=genesis))
    w3 = Web3(Web3.EthereumTesterProvider(tester))
    w3.eth.default_account = w3.eth.accounts[0]
    return w3


def anvil_binary() -> Path:
    for candidate in (ANVIL_BIN, ANVIL_SHIM):
        if candidate.exists():
            return candidate
    raise ChainError("anvil is not installed (fix: `make setup` runs `npm ci`)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_web3(url: str, timeout: float = 30) -> Web3:
    """A Web3 over HTTP JSON-RPC that asks the node's chain id once (web3 would ask before every
    transaction it builds or signs)."""
    provider = Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, cache_allowed_requests=True,
                                 cacheable_requests={"eth_chainId"})
    return Web3(provider)


class Anvil:
    """anvil on 127.0.0.1 on a free port; a context manager that stops it by pid."""

    def __init__(self, port: int | None = None, *, block_time: float | None = None,
                 state_path: Path | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.block_time = block_time
        self.state_path = state_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Anvil:
        args = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port),
                "--gas-limit", str(BLOCK_GAS_LIMIT), "--code-size-limit", "49152",
                "--mnemonic", ANVIL_MNEMONIC, "--silent", *self.extra_args]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if self.state_path is not None:
            args += ["--state", str(self.state_path)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise ChainError(f"anvil exited with {self.proc.returncode}: {err.strip()}")
            try:
                if w3.is_connected():
                    return self
            except Exception:  # not up yet
                pass
            time.sleep(0.05)
        self.stop()
        raise ChainError(f"anvil did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def web3(self) -> Web3:
        w3 = http_web3(self.url)
        w3.eth.default_account = w3.eth.accounts[0]
        return w3

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
