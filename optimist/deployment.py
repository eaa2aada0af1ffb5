"""The deployment file `optimist deploy` writes and every other command reads (JSON)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_PATH = "optimist-deployment.json"
ENV_PATH = "OPTIMIST_DEPLOYMENT"


class DeploymentError(ValueError):
    """No deployment file, or one that is malformed or for another chain."""


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    optimist: str
    mips: str
    block: int            # block of the Optimist deployment: daemons scan events from here
    rpc: str = ""
    challenge_window: int = 0
    clock: int = 0
    result_bond: int = 0
    challenge_bond: int = 0

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def default_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(ENV_PATH) or DEFAULT_PATH)


def load(path: str | Path | None = None) -> Deployment:
    path = default_path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DeploymentError(f"no deployment file {path} (fix: run `optimist deploy` first, or pass "
                              f"--deployment FILE / set {ENV_PATH})") from None
    except json.JSONDecodeError as exc:
        raise DeploymentError(f"{path} is not valid JSON: {exc}") from None
    try:
        return Deployment(**data)
    except TypeError as exc:
        raise DeploymentError(f"{path} is not an optimist deployment file: {exc}") from None
