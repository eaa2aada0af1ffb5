"""`optimist doctor` passes on a set-up checkout and fails clearly when a part is missing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from optimist import doctor as doctor_mod
from optimist.cli import main


def test_doctor_passes() -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    for part in ("zig cc", "unicorn", "solc", "anvil", "python: web3"):
        assert part in result.output


def test_doctor_reports_missing_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor_mod, "PYTHON_PACKAGES", ["definitely-not-installed-pkg"])
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code != 0
    assert "MISSING" in result.output and "make setup" in result.output
