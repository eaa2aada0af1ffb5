"""The adversarial suite imports tests/contracts_world.py (the toy machine world) from the parent folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
