"""Fixtures shared by the simulator tests."""

from __future__ import annotations

import sys
from pathlib import Path

# csms.py (the tiny central system) sits beside this file; tests dirs are not packages (every
# package has one and pytest runs with --import-mode=importlib), so the directory goes on the path.
sys.path.insert(0, str(Path(__file__).parent))
