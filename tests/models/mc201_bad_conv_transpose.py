"""MC201 bad (warning): a ConvTranspose2d decoder initialised with kaiming_normal_'s default fan_in mode.

For ConvTranspose weights (C_in, C_out, k, k) torch's "fan_in" is C_out·k², but each output sums only
C_in·k²/s² inputs: with k = 4, s = 2 the std is half the variance-preserving one, ×0.5 per layer.
"""

import torch
from torch import nn


class KaimingDeconvDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(9):
            layers += [nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(2, 8, 1, 1),)
