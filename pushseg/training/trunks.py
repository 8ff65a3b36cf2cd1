"""Convolutional trunks that map an RGB image to a stride-16 feature map.

Both are written here in plain PyTorch (no torchvision). Every convolution pads
by ``kernel // 2``, so feature cell ``k`` covers input pixels ``[16k, 16k + 16)``
and a window of ``patch_size / 16`` cells starting at cell ``j`` sees the input
patch ``[16j, 16j + patch_size)``: the property that makes the sliding-window
inference fully convolutional.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SmallBlock(nn.Module):
    """Stride-2 residual block: conv3x3/2 -> conv3x3, plus a strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(cin, cout, 3, 2)
        self.conv2 = conv_bn_relu(cout, cout, 3, 1, relu=False)
        self.shortcut = conv_bn_relu(cin, cout, 1, 2, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class SmallTrunk(nn.Module):
    """A stride-2 stem and three stride-2 residual blocks: stride 16, ``widths[-1]`` channels."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128), in_channels: int = 3) -> None:
        super().__init__()
        self.stem = conv_bn_relu(in_channels, widths[0], 3, 2)
        self.blocks = nn.Sequential(*(SmallBlock(a, b) for a, b in zip(widths[:-1], widths[1:])))
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1 -> 3x3 -> 1x1, expansion 4), stride on the 3x3 conv."""

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * 4
        self.conv1 = conv_bn_relu(cin, width, 1)
        self.conv2 = conv_bn_relu(width, width, 3, stride)
        self.conv3 = conv_bn_relu(width, cout, 1, relu=False)
        self.down = conv_bn_relu(cin, cout, 1, stride, relu=False) if (stride != 1 or cin != cout) else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class ResNet50Trunk(nn.Module):
    """ResNet-50 up to ``layer3`` (conv4_x): stride 16, 1024 channels, as in DeepMask."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(in_channels, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
        self.layer1 = self._layer(64, 64, 3, 1)
        self.layer2 = self._layer(256, 128, 4, 2)
        self.layer3 = self._layer(512, 256, 6, 2)
        self.out_channels = 1024

    @staticmethod
    def _layer(cin: int, width: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [Bottleneck(cin, width, stride)]
        layers += [Bottleneck(width * 4, width) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer3(self.layer2(self.layer1(self.stem(x))))


def build_trunk(name: str, small_widths: tuple[int, ...] = (16, 32, 64, 128), in_channels: int = 3) -> nn.Module:
    if name == "small":
        return SmallTrunk(small_widths, in_channels)
    if name == "resnet50":
        return ResNet50Trunk(in_channels)
    raise ValueError(f"unknown trunk {name!r}")
