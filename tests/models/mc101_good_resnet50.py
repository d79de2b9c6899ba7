"""MC101/MC102 good: a ResNet-50-style network (BN bottleneck blocks [3, 4, 6, 3], projection shortcuts).

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016 (torchvision layout,
narrow: base width 8).
"""

import torch
from torch import nn


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = 4 * width
        self.conv1, self.bn1 = nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        return self.relu(self.bn3(self.conv3(h)) + identity)


class ResNet50Style(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        layers, c_in = [], 8
        for i, (n, width) in enumerate(zip((3, 4, 6, 3), (8, 16, 32, 64))):
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck(c_in, width, 2 if j == 0 and i > 0 else 1))
                c_in = 4 * width
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(c_in, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(h.mean(dim=(2, 3)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(2, 3, 64, 64),)
