"""A pretraining mix: patches from several labelled sets at fixed shares of every batch.

``pushseg pretrain --photos COCO_JSON --photo-share 0.25`` cuts a quarter of the
patches of every batch from real photos (a COCO instances json, polygons or RLE)
and the rest from the simulated source scenes, so that the network sees real
object outlines and textures beside the simulated ones (docs/method.md, "Real
photos in pretraining").

:class:`MixingSampler` wraps one :class:`~pushseg.training.sampler.PatchSampler`
per set and has the interface the trainer uses: ``draw(rng, n)`` holds all the
randomness (the number of patches from each set is fixed by the shares, not
drawn, so every batch has the asked-for share), ``collate(samples)`` none, so
DataLoader workers and DDP ranks may render.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pushseg.errors import InputError
from pushseg.training.config import ModelConfig, SamplerConfig, check_number
from pushseg.training.data import SceneImage, load_scene_set
from pushseg.training.depth_input import DEPTH_CHANNELS, needs_depth
from pushseg.training.sampler import PatchInfo, PatchSampler


@dataclass
class MixConfig:
    """Real photos mixed into pretraining; without ``photos`` pretraining uses the simulated scenes alone."""

    photos: str | None = None  # COCO instances json of real photos (polygon or RLE masks, any categories); none: no photos
    photo_images: str | None = None  # folder the photo json's file names are relative to (default: the json's folder)
    photo_share: float = 0.25  # share of every batch's patches cut from the photos (the rest: simulated scenes)

    def __post_init__(self) -> None:
        check_number("mix photo_share", self.photo_share, lo=0.0, hi=1.0)
        if self.photos is not None and not (isinstance(self.photos, (str, os.PathLike)) and str(self.photos)):
            raise InputError(f"mix photos={self.photos!r} must be the path of a COCO json (or none)")

    @property
    def enabled(self) -> bool:
        return self.photos is not None and self.photo_share > 0


@dataclass
class MixedPatch:
    """A drawn patch and the set it comes from (an index into the mix's samplers)."""

    source: int
    info: PatchInfo


def apportion(n: int, shares: list[float]) -> list[int]:
    """``n`` split by ``shares`` into whole counts that add up to ``n`` (largest remainder; ties to the first)."""
    raw = [n * s for s in shares]
    counts = [math.floor(r + 1e-9) for r in raw]
    rest = sorted(range(len(shares)), key=lambda k: (-(raw[k] - counts[k]), k))
    for k in rest[: n - sum(counts)]:
        counts[k] += 1
    return counts


class MixingSampler:
    """Patches from several :class:`PatchSampler` s, ``apportion(n, shares)`` of them from each in every batch.

    All samplers must share one model config's patch and mask sizes. For a depth
    input model, a set without depth (photos) gets the samplers' "no reading"
    depth patches, so the network learns to do without depth there.
    """

    def __init__(self, samplers: list[PatchSampler], shares: list[float], names: list[str] | None = None) -> None:
        if len(samplers) < 1 or len(samplers) != len(shares):
            raise InputError(f"a mix needs one share per sampler, got {len(samplers)} samplers and {len(shares)} shares")
        for k, s in enumerate(shares):
            check_number(f"mix share {k}", s, lo=0.0, hi=1.0)
        if abs(sum(shares) - 1.0) > 1e-6:
            raise InputError(f"mix shares {list(shares)} add up to {sum(shares):g}; they must add up to 1")
        sizes = {(s.model.patch_size, s.model.mask_size) for s in samplers}
        if len(sizes) != 1:
            raise InputError(f"the samplers of a mix cut patches of different sizes {sorted(sizes)}")
        self.samplers = list(samplers)
        self.shares = [float(s) for s in shares]
        self.names = list(names) if names else [f"set{k}" for k in range(len(samplers))]
        self.model: ModelConfig = samplers[0].model  # the network's config: the first set is the main one
        self.cfg: SamplerConfig = samplers[0].cfg
        self.depth = needs_depth(self.model.input)

    def counts(self, n: int) -> list[int]:
        """Patches of each set in a batch of ``n``."""
        return apportion(n, self.shares)

    def draw(self, rng: np.random.Generator, n: int) -> list[MixedPatch]:
        """Each set's ``draw`` in turn, with this one generator: set 0's patches, then set 1's, ..."""
        out: list[MixedPatch] = []
        for k, (sampler, count) in enumerate(zip(self.samplers, self.counts(n))):
            if count:
                out.extend(MixedPatch(k, info) for info in sampler.draw(rng, count))
        return out

    def _collate_one(self, k: int, infos: list[PatchInfo]) -> dict:
        sampler = self.samplers[k]
        batch = sampler.collate(infos)
        if self.depth and "depth" not in batch:  # a set without depth in a depth model's mix
            P = self.model.patch_size
            depth = np.stack([sampler.render_depth(i) for i in infos]) if infos else np.zeros((0, P, P, DEPTH_CHANNELS), np.float32)
            batch["depth"] = torch.from_numpy(depth).permute(0, 3, 1, 2).contiguous()
        return batch

    def collate(self, samples: list[MixedPatch]) -> dict:
        """Render drawn patches, each by its own set's sampler, into one batch in the order drawn (no randomness)."""
        groups: dict[int, list[int]] = {}
        for pos, s in enumerate(samples):
            groups.setdefault(s.source, []).append(pos)
        if not groups:  # an empty share of a global batch (DDP): the tensors' shapes still matter
            groups = {0: []}
        parts, order = [], []
        for k in sorted(groups):
            parts.append(self._collate_one(k, [samples[p].info for p in groups[k]]))
            order.extend(groups[k])
        where = torch.empty(len(order), dtype=torch.long)  # sample position -> row in the concatenated parts
        where[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
        batch: dict[str, Any] = {key: torch.cat([p[key] for p in parts])[where]
                                 for key, value in parts[0].items() if isinstance(value, torch.Tensor)}
        batch["infos"] = [s.info for s in samples]
        batch["sources"] = torch.tensor([s.source for s in samples], dtype=torch.long)
        return batch

    def batch(self, rng: np.random.Generator, n: int) -> dict:
        return self.collate(self.draw(rng, n))


def load_photo_set(mix: MixConfig, model: ModelConfig) -> list[SceneImage]:
    """The photos of ``mix`` at the model's working width (grayscale and RGBA photos converted to RGB)."""
    if model.input == "depth":
        raise InputError("--photos: a depth-input model cannot learn from photos (they have no depth); "
                         "train an rgb or rgbd model, or leave out --photos")
    return load_scene_set(mix.photos, model.work_width, mix.photo_images, photos=True)


def photo_mix(sim: PatchSampler, mix: MixConfig, sampler_cfg: SamplerConfig | None = None
              ) -> tuple[MixingSampler, dict[str, Any]]:
    """The simulated sampler ``sim`` mixed with the photos of ``mix``, and the record of the photo set for the meta."""
    photos = load_photo_set(mix, sim.model)
    # photos have no depth: their sampler cuts colour only; the mix adds "no reading" depth patches
    photo_model = dataclasses.replace(sim.model, input="rgb") if sim.model.input != "rgb" else sim.model
    try:
        photo_sampler = PatchSampler(photos, photo_model, sampler_cfg)
    except InputError as e:
        raise InputError(f"--photos {mix.photos}: {e}") from None
    sampler = MixingSampler([sim, photo_sampler], [1.0 - mix.photo_share, mix.photo_share], ["scenes", "photos"])
    record = {"json": str(Path(mix.photos)), "images": None if mix.photo_images is None else str(mix.photo_images),
              "share": mix.photo_share, "photos": len(photos),
              "instances": sum(len(im.instances) for im in photos)}
    return sampler, record
