import pytest
import torch
from torch import nn

from sentinel import touch

touch("conftest")


class FixtureNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)


@pytest.fixture
def net() -> FixtureNet:
    return FixtureNet()
