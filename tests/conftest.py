"""Suite-wide settings. The models in the tests are tiny: OpenMP's thread hand-off costs more than
the arithmetic, so one intra-op thread makes the suite several times faster on small machines."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parent))  # shared helpers (gains.py, *_ir.py) import by name
