"""DeepMask (Pinheiro et al. 2015) as used by SelfDeepMask, fully convolutional.

trunk (stride 16) -> 1x1 conv to 128 channels -> shared 512-d feature
(``Linear(128*w*w, 512)`` written as a ``w x w`` convolution, ``w = patch/16``)
-> mask head ``Linear(512, m*m)`` (a 1x1 conv) and score head
``Dropout, Linear(512, 1024), ReLU, Dropout, Linear(1024, 1)`` (1x1 convs).

On a patch of exactly ``patch_size`` pixels every head gives one output; on a
larger image it gives one output per stride-16 window position, which is the
sliding-window inference at no extra cost.
"""

from __future__ import annotations

import torch
from torch import nn

from pushseg.training.config import ModelConfig
from pushseg.training.depth_input import input_channels
from pushseg.training.trunks import build_trunk

# ImageNet statistics; images are normalised with them before the trunk.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class DeepMask(nn.Module):
    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        self.trunk = build_trunk(config.trunk, config.small_widths, input_channels(config.input))
        w = config.window
        self.shared = nn.Sequential(
            nn.Conv2d(self.trunk.out_channels, config.reduce_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(config.reduce_channels, config.hidden, w),
            nn.ReLU(inplace=True),
        )
        self.mask_head = nn.Conv2d(config.hidden, config.mask_size**2, 1)
        self.score_head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Conv2d(config.hidden, config.score_hidden, 1),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Conv2d(config.score_hidden, 1, 1),
        )
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    @property
    def needs_depth(self) -> bool:
        return self.config.input != "rgb"

    def normalize(self, rgb_uint8: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) uint8 or float in [0, 255] [+ (B, 3, H, W) encoded depth] -> the network's input.

        ``depth`` is the encoding of :func:`pushseg.training.depth_input.encode_depth`,
        already on the scale the network takes; the model's ``input`` picks the channels.
        """
        kind = self.config.input
        if kind == "rgb":
            return (rgb_uint8.float() / 255.0 - self.mean) / self.std
        if depth is None:
            raise ValueError(f"this model takes {kind} input: pass the encoded depth beside the images")
        if kind == "depth":
            return depth.float()
        return torch.cat([(rgb_uint8.float() / 255.0 - self.mean) / self.std, depth.float()], dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> shared features (B, hidden, H/16 - w + 1, W/16 - w + 1)."""
        return self.shared(self.trunk(x))

    def mask_logits(self, feat: torch.Tensor) -> torch.Tensor:
        return self.mask_head(feat)

    def score_logits(self, feat: torch.Tensor) -> torch.Tensor:
        return self.score_head(feat)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised patches (B, 3, P, P) -> mask logits (B, m, m), score logits (B,)."""
        p = self.config.patch_size
        if x.shape[-2:] != (p, p):
            raise ValueError(f"DeepMask.forward takes {p}x{p} patches, got {tuple(x.shape[-2:])}; use dense()")
        feat = self.features(x)
        m = self.config.mask_size
        return self.mask_logits(feat).view(-1, m, m), self.score_logits(feat).view(-1)

    def dense(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images (B, 3, H, W) -> mask logits (B, m*m, h, w), score logits (B, h, w)."""
        feat = self.features(x)
        return self.mask_logits(feat), self.score_logits(feat)[:, 0]

    def parts(self) -> dict[str, list[nn.Module]]:
        """Parameter groups that training can freeze or train."""
        return {"trunk": [self.trunk, self.shared], "mask": [self.mask_head], "score": [self.score_head]}
