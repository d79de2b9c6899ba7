"""A dataset: a class that subclasses a torch class but is no model, so this is not a model file."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class RandomData(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.randn(12)
