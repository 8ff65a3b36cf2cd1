"""Multi-scale, fully-convolutional sliding-window inference with DeepMask.

For each image (resized to the model's working width) and each pyramid scale
``s``: pad by half a patch, run trunk + shared layer once (one window per
stride-16 cell), score every window. The ``top_k`` windows over all scales get
a mask (the mask head runs only on them), which is turned into probabilities,
pasted back at the original image size, thresholded at ``mask_threshold``;
masks larger than ``max_area_fraction`` of the image or smaller than
``min_area_px`` are dropped; then NMS on mask IoU (``nms_threshold``, None to
skip). Images are processed ``batch_size`` at a time per scale.

Two paths compute the same windows and scores (up to float rounding):
* ``fast`` (default): an inference copy of the network with batch norm folded
  into the convolutions, channels-last memory, bfloat16 autocast on CUDA; with a
  region per image (for instance :func:`table_region`, the table seen from the
  robot's head camera), the shared layer and score head run only on the windows
  centred inside it.
* the reference path (``InferenceConfig(fast=False)``): the model as it is,
  every window scored densely; a region only filters the scores.

The fast copy is made when the :class:`Segmenter` is built: weights changed
afterwards need a new Segmenter.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pushseg.errors import InputError
from pushseg.geometry import fit_table_plane, height_above_plane
from pushseg.limits import check_image_side
from pushseg.training.config import STRIDE, InferenceConfig, parse_scales
from pushseg.training.data import resize_to_width
from pushseg.training.depth_input import DEPTH_CHANNELS
from pushseg.training.engine import pick_device
from pushseg.training.model import DeepMask
from pushseg.training.nms import mask_nms, rle_encode
from pushseg.training.sampler import PAD_RGB
from pushseg.types import CameraInfo

MAX_ASPECT = 8.0  # longer side / shorter side; a thin strip resized to the working width would be huge


@dataclass
class Detection:
    mask: np.ndarray  # (H, W) bool at the input image's size
    score: float  # object probability
    rle: dict | None = None  # pycocotools RLE of mask (bytes counts)


@dataclass
class _Candidate:
    score: float
    feat: torch.Tensor  # (hidden,)
    scale: float
    row: int
    col: int


def window_box(row: int, col: int, scale: float, patch: int, factor: float) -> tuple[float, float, float]:
    """Window at feature cell (row, col) of pyramid level ``scale`` -> (x0, y0, side) in original image px."""
    k = scale * factor
    return (STRIDE * col - patch / 2) / k, (STRIDE * row - patch / 2) / k, patch / k


def paste_mask(prob: np.ndarray, x0: float, y0: float, side: float, height: int, width: int) -> np.ndarray:
    """Warp an (m, m) probability map onto its square box in an (height, width) image; 0 outside."""
    m = prob.shape[0]
    k = side / m
    bx0, by0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    bx1, by1 = min(width, int(np.ceil(x0 + side))), min(height, int(np.ceil(y0 + side)))
    out = np.zeros((height, width), np.float32)
    if bx1 <= bx0 or by1 <= by0:
        return out
    # mask px (u + 0.5) * k + x0 - 0.5 = image px; shifted into the box
    M = np.array([[k, 0, x0 + 0.5 * k - 0.5 - bx0], [0, k, y0 + 0.5 * k - 0.5 - by0]], np.float64)
    out[by0:by1, bx0:bx1] = cv2.warpAffine(prob.astype(np.float32), M, (bx1 - bx0, by1 - by0),
                                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


# --- checks -------------------------------------------------------------------------


def check_image(image: object, what: str = "image") -> None:
    """An RGB uint8 (H, W, 3) array of at least MIN_IMAGE_SIDE px a side, or a one-line InputError."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"{what} is a {type(image).__name__}; Segmenter takes RGB numpy arrays (H, W, 3) uint8")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{what} has shape {image.shape}; Segmenter takes RGB images (H, W, 3): convert "
                         "grayscale or RGBA first (e.g. cv2.cvtColor)")
    if image.dtype != np.uint8:
        raise InputError(f"{what} has dtype {image.dtype}; Segmenter takes uint8 RGB (0-255)")
    h, w = image.shape[:2]
    check_image_side(w, h, what)
    if max(h, w) / min(h, w) > MAX_ASPECT:
        raise InputError(f"{what} is {w}x{h} px; an aspect ratio above {MAX_ASPECT:g} is not a camera image "
                         "(crop it first)")


def check_weights(model: nn.Module, name: str = "the model") -> None:
    """Refuse a model with NaN or infinite weights: it would score every window NaN and find nothing."""
    for key, t in list(model.state_dict().items()):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise InputError(f"{name} has non-finite weights (NaN or inf) in '{key}'; it is damaged or its "
                             "training diverged: use another checkpoint")


# --- the table region ---------------------------------------------------------------


def table_region(camera: CameraInfo, depth: np.ndarray, margin_px: int | None = None,
                 plane_tolerance_m: float = 0.01, seed: int = 0) -> np.ndarray:
    """Bool (H, W): the image area of the table top, where objects on the table have their centres.

    The table plane comes from :func:`pushseg.geometry.fit_table_plane` (RANSAC on
    depth); the region is the convex hull of the pixels on it, grown by
    ``margin_px`` (default: 1/30 of the width) for objects standing at its edge.
    """

    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != (camera.height, camera.width):
        raise InputError(f"depth has shape {depth.shape} but the camera is {camera.width}x{camera.height}")
    plane = fit_table_plane(camera, depth, rng=seed)
    with np.errstate(invalid="ignore"):
        on_plane = np.abs(height_above_plane(camera, depth, plane)) < plane_tolerance_m
    ys, xs = np.nonzero(on_plane)
    if len(xs) < 3:
        raise InputError("no table found in the depth image: cannot restrict inference to the table; "
                         "set table_region=False")
    hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32))
    region = np.zeros(depth.shape, np.uint8)
    cv2.fillConvexPoly(region, hull, 1)
    m = max(1, camera.width // 30) if margin_px is None else int(margin_px)
    if m > 0:
        region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * m + 1, 2 * m + 1)))
    return region.astype(bool)


# --- the fast inference copy ----------------------------------------------------------


def _fold_batchnorm(module: nn.Module) -> None:
    """In place: every Conv2d followed by BatchNorm2d in a Sequential becomes one Conv2d with a bias."""
    for child in module.children():
        _fold_batchnorm(child)
    if not isinstance(module, nn.Sequential):
        return
    items = list(module._modules.items())
    for (_, conv), (bn_key, bn) in zip(items, items[1:]):
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
            with torch.no_grad():
                k = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                conv.weight.mul_(k.view(-1, 1, 1, 1))
                conv.bias = nn.Parameter((bias - bn.running_mean) * k + bn.bias)
            module._modules[bn_key] = nn.Identity()


def _linear(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A convolution's weight as a (out, in * kh * kw) matrix, and its bias."""
    return conv.weight.reshape(conv.out_channels, -1), conv.bias


class Segmenter:
    """Multi-scale DeepMask inference on ``device``: "cpu", "cuda", "cuda:N" or "auto" (CUDA when there is one).

    The model is moved to the device.
    """

    def __init__(self, model: DeepMask, config: InferenceConfig | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.cfg = config or InferenceConfig()
        check_weights(model)
        dev = str(device)
        if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
            raise InputError(f"device '{dev}' is unknown; use auto, cpu, cuda or cuda:N")
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device {dev} asked for, but torch sees no CUDA device; use cpu (or auto)")
        self.device = pick_device(dev)
        self.model = model.to(self.device).eval()
        # the reference path stays in float32 everywhere
        self._autocast = bool(self.cfg.fast and self.cfg.amp and self.device.type == "cuda"
                              and torch.cuda.is_bf16_supported())
        self._net = self.model
        if self.cfg.fast:
            net = copy.deepcopy(self.model).eval()
            _fold_batchnorm(net)
            for p in net.parameters():
                p.requires_grad_(False)
            self._net = net.to(memory_format=torch.channels_last)

    # -- one pyramid level ---------------------------------------------------------------

    def _batch(self, work: list[np.ndarray], scale: float, depths: list[np.ndarray] | None = None) -> torch.Tensor:
        """The network's input for one pyramid level: resized, padded by half a patch, normalised."""
        P = self.model.config.patch_size
        h, w = work[0].shape[:2]
        sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        pad = P // 2
        border = (pad, pad + max(0, P - sh - 2 * pad), pad, pad + max(0, P - sw - 2 * pad))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR

        def level(images: list[np.ndarray], value) -> torch.Tensor:
            out = [cv2.copyMakeBorder(cv2.resize(im, (sw, sh), interpolation=interp), *border,
                                      cv2.BORDER_CONSTANT, value=value) for im in images]
            x = torch.from_numpy(np.stack(out))
            if self.device.type == "cuda":  # page-locked memory: the copy to the GPU runs without a staging buffer
                x = x.pin_memory().to(self.device, non_blocking=True)
            return x.permute(0, 3, 1, 2)

        d = None if depths is None else level(depths, (0.0, 0.0, 0.0))  # outside the image: no reading
        x = self._net.normalize(level(work, PAD_RGB), d)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.fast else x

    def _allowed(self, regions: list[np.ndarray | None], shape: tuple[int, int], k: float) -> torch.Tensor | None:
        """(B, rows, cols) bool: windows whose centre (original px ``16 * cell / k``) lies in the region."""
        if all(r is None for r in regions):
            return None
        rows, cols = shape
        out = torch.ones((len(regions), rows, cols), dtype=torch.bool)
        for b, region in enumerate(regions):
            if region is None:
                continue
            H, W = region.shape
            ys = np.clip(np.round(STRIDE * np.arange(rows) / k).astype(int), 0, H - 1)
            xs = np.clip(np.round(STRIDE * np.arange(cols) / k).astype(int), 0, W - 1)
            out[b] = torch.from_numpy(region[np.ix_(ys, xs)])
        return out.to(self.device)

    def _level(self, work: list[np.ndarray], scale: float, factor: float = 1.0,
               regions: list[np.ndarray | None] | None = None,
               depths: list[np.ndarray] | None = None) -> list[list[_Candidate]]:
        """Score every window of one pyramid level for a batch of same-size images."""
        regions = regions or [None] * len(work)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self._autocast):
            x = self._batch(work, scale, depths)
            net = self._net
            if not self.cfg.fast:  # the reference path: the model's own modules, every window
                feat = net.features(x)
                scores = net.score_logits(feat)[:, 0].float()  # (B, h', w')
                allowed = self._allowed(regions, tuple(scores.shape[1:]), scale * factor)
                return self._top(scores, feat, allowed, scale)
            reduce_conv, relu, shared_conv, _ = net.shared
            red = relu(reduce_conv(net.trunk(x)))  # (B, C, H/16, W/16)
            w = net.config.window
            allowed = self._allowed(regions, (red.shape[2] - w + 1, red.shape[3] - w + 1), scale * factor)
            if allowed is None or float(allowed.float().mean()) > 0.5:
                # most windows are needed: one dense convolution beats gathering them
                feat = F.relu(shared_conv(red))
                return self._top(net.score_logits(feat)[:, 0].float(), feat, allowed, scale)
            return self._sparse(net, red, allowed, scale)

    def _top(self, scores: torch.Tensor, feat: torch.Tensor, allowed: torch.Tensor | None,
             scale: float) -> list[list[_Candidate]]:
        """The ``top_k`` allowed windows of each image of a dense score map (B, rows, cols)."""
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        out = []
        cols = scores.shape[2]
        k = min(self.cfg.top_k, scores[0].numel())
        for b in range(scores.shape[0]):
            top = torch.topk(scores[b].flatten(), k)
            cands = []
            for s, idx in zip(top.values.tolist(), top.indices.tolist()):
                if s == float("-inf"):
                    break
                r, c = divmod(idx, cols)
                cands.append(_Candidate(s, feat[b, :, r, c].float().clone(), scale, r, c))
            out.append(cands)
        return out

    def _sparse(self, net: DeepMask, red: torch.Tensor, allowed: torch.Tensor, scale: float) -> list[list[_Candidate]]:
        """The w x w shared layer and the score head on the allowed windows only (as matrix products)."""
        w = net.config.window
        W1, b1 = _linear(net.shared[2])
        _, c2, _, _, c3 = net.score_head  # dropout, conv, relu, dropout, conv
        W2, b2 = _linear(c2)
        W3, b3 = _linear(c3)
        windows = red.unfold(2, w, 1).unfold(3, w, 1)  # (B, C, rows, cols, w, w), a view
        out = []
        for b in range(red.shape[0]):
            rr, cc = torch.nonzero(allowed[b], as_tuple=True)
            if len(rr) == 0:
                out.append([])
                continue
            patches = windows[b][:, rr, cc].permute(1, 0, 2, 3).reshape(len(rr), -1)  # (N, C*w*w)
            hidden = F.relu(F.linear(patches, W1, b1))
            scores = F.linear(F.relu(F.linear(hidden, W2, b2)), W3, b3)[:, 0].float()
            top = torch.topk(scores, min(self.cfg.top_k, len(scores)))
            out.append([_Candidate(s, hidden[i].float().clone(), scale, int(rr[i]), int(cc[i]))
                        for s, i in zip(top.values.tolist(), top.indices.tolist())])
        return out

    # -- masks, filters and NMS ------------------------------------------------------------

    def _detections(self, cands: list[_Candidate], height: int, width: int, factor: float) -> list[Detection]:
        cfg = self.cfg
        cands = sorted(cands, key=lambda c: -c.score)[: cfg.top_k]
        if not cands:
            return []
        m = self.model.config.mask_size
        feats = torch.stack([c.feat for c in cands])[:, :, None, None]
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self._autocast):
            probs = torch.sigmoid(self._net.mask_logits(feats.to(self.device)).view(-1, m, m).float()).cpu().numpy()
        dets = []
        max_area = cfg.max_area_fraction * height * width
        for c, prob in zip(cands, probs):
            x0, y0, side = window_box(c.row, c.col, c.scale, self.model.config.patch_size, factor)
            mask = paste_mask(prob, x0, y0, side, height, width) > cfg.mask_threshold
            area = int(mask.sum())
            if area < cfg.min_area_px or area > max_area:
                continue
            dets.append(Detection(mask, float(torch.sigmoid(torch.tensor(c.score))), None))
        rles = rle_encode([d.mask for d in dets])
        for d, r in zip(dets, rles):
            d.rle = r
        if cfg.nms_threshold is not None and dets:
            keep = mask_nms(rles, [d.score for d in dets], cfg.nms_threshold)
            dets = [dets[i] for i in keep]
        return dets

    def __call__(self, images: list[np.ndarray], regions: list[np.ndarray | None] | None = None,
                 depths: list[np.ndarray] | None = None,
                 scales: list[tuple[float, ...] | None] | None = None) -> list[list[Detection]]:
        """RGB uint8 images (any size, at least 32 px a side) -> per image, detections sorted by score.

        ``regions`` (optional, one per image, None for the whole image): bool (H, W) masks; only
        windows centred inside are scored, e.g. :func:`table_region` of the image's depth.
        ``depths`` (depth and rgbd models only, one per image): the encoded depth
        (H, W, 3) of :func:`pushseg.training.depth_input.encode_depth`; ignored by an rgb model.
        ``scales`` (optional, one per image, None for ``cfg.scales``): that image's pyramid, e.g.
        :func:`pushseg.training.pyramid.camera_scales` of its camera and depth.
        """
        if isinstance(images, np.ndarray):
            raise InputError("Segmenter takes a list of images; for one image use Segmenter.segment(image)")
        images = list(images)
        for i, im in enumerate(images):
            check_image(im, f"image {i}")
        if regions is None:
            regions = [None] * len(images)
        regions = list(regions)
        if len(regions) != len(images):
            raise InputError(f"{len(regions)} regions for {len(images)} images; give one per image (or None)")
        for i, (im, reg) in enumerate(zip(images, regions)):
            if reg is not None and (not isinstance(reg, np.ndarray) or reg.shape != im.shape[:2]):
                raise InputError(f"region {i} must be a bool array of the image's size {im.shape[:2]}, got "
                                 f"{getattr(reg, 'shape', type(reg).__name__)}")
        depths = self._check_depths(images, depths)
        scales = [None] * len(images) if scales is None else list(scales)
        if len(scales) != len(images):
            raise InputError(f"{len(scales)} pyramids for {len(images)} images; give one per image (or None)")
        scales = [self.cfg.scales if sc is None else parse_scales(sc) for sc in scales]
        if self.cfg.table_region and any(r is None for r in regions):
            raise InputError("table_region is on but no region was given; pass regions=[table_region(camera, depth)]"
                             " per image, or set table_region=False")
        results: list[list[Detection]] = [[] for _ in images]
        for i, (levels, factor) in self._pyramid(images, regions, depths, scales):
            h, w = images[i].shape[:2]
            results[i] = self._detections([c for cs in levels.values() for c in cs], h, w, factor)
        return results

    def _check_depths(self, images: list[np.ndarray], depths) -> list[np.ndarray] | None:
        if not self.model.needs_depth:
            return None
        kind = self.model.config.input
        if depths is None:
            raise InputError(f"this model takes {kind} input: pass depths=[encode_depth(camera, depth)] per image "
                             "(pushseg.training.depth_input), or use an rgb model")
        depths = list(depths)
        if len(depths) != len(images):
            raise InputError(f"{len(depths)} depth encodings for {len(images)} images; give one per image")
        for i, (im, d) in enumerate(zip(images, depths)):
            if not isinstance(d, np.ndarray) or d.shape != im.shape[:2] + (DEPTH_CHANNELS,):
                raise InputError(f"depth {i} must be the (H, W, {DEPTH_CHANNELS}) encoding of encode_depth at the "
                                 f"image's size {im.shape[:2]}, got {getattr(d, 'shape', type(d).__name__)}")
        return [np.asarray(d, np.float32) for d in depths]

    def _pyramid(self, images: list[np.ndarray], regions: list[np.ndarray | None],
                 depths: list[np.ndarray] | None = None, scales: list[tuple[float, ...]] | None = None):
        """Yield (image index, ({scale: candidates}, resize factor)), images ``batch_size`` at a time."""
        work_w = self.model.config.work_width
        scales = scales or [self.cfg.scales] * len(images)
        # group same-size images with the same pyramid so that they can share a forward pass
        groups: dict[tuple, list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault((im.shape[:2], tuple(scales[i])), []).append(i)
        for (_, pyramid), idxs in groups.items():
            for start in range(0, len(idxs), self.cfg.batch_size):
                chunk = idxs[start:start + self.cfg.batch_size]
                resized = [resize_to_width(images[i], work_w) for i in chunk]
                work = [r[0] for r in resized]
                factor = resized[0][1]
                regs = [None if regions[i] is None else regions[i].astype(bool) for i in chunk]
                work_depths = None if depths is None else [resize_to_width(depths[i], work_w)[0] for i in chunk]
                levels: list[dict[float, list[_Candidate]]] = [{} for _ in chunk]
                for scale in pyramid:
                    for b, cs in enumerate(self._level(work, scale, factor, regs, work_depths)):
                        levels[b][scale] = cs
                for b, i in enumerate(chunk):
                    yield i, (levels[b], factor)

    def windows(self, images: list[np.ndarray], depths: list[np.ndarray] | None = None,
                scales: list[tuple[float, ...]] | None = None) -> list[tuple[dict[float, list], float]]:
        """Per image, the scored windows of every level of its pyramid before masks are made:
        ``({scale: candidates}, resize factor)``. With :meth:`detections_at` this scores any
        sub-pyramid without running the network again (choosing an operating point)."""
        images = list(images)
        depths = self._check_depths(images, depths)
        scales = [self.cfg.scales if sc is None else parse_scales(sc) for sc in (scales or [None] * len(images))]
        out: list[tuple[dict[float, list], float]] = [({}, 1.0)] * len(images)
        for i, (levels, factor) in self._pyramid(images, [None] * len(images), depths, scales):
            out[i] = (levels, factor)
        return out

    def detections_at(self, windows: tuple[dict[float, list], float], scales: tuple[float, ...],
                      shape: tuple[int, int]) -> list[Detection]:
        """The detections of one image (``shape`` its height and width) from the windows of ``scales``,
        as :meth:`__call__` with that pyramid would give them."""
        levels, factor = windows
        missing = [s for s in scales if s not in levels]
        if missing:
            raise InputError(f"scales {missing} were not scored for this image; scored: {sorted(levels)}")
        return self._detections([c for s in scales for c in levels[s]], shape[0], shape[1], factor)

    def segment(self, image: np.ndarray, region: np.ndarray | None = None,
                depth: np.ndarray | None = None) -> list[Detection]:
        return self([image], None if region is None else [region], None if depth is None else [depth])[0]
