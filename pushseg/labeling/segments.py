"""Clustering what moved into segments (paper step 3) with normalized cuts.

Unlike the reference implementation, which ran SLIC on a flow *colour* image
normalised by its own maximum (so the same motion looked different in every
push, and still pixels were segmented too), this works on the raw (u, v)
vectors in pixels, inside the box around the motion:

1. ``support``: the pixels a segment may hold, i.e. those above the table
   (everything without the table filter); each connected part of it that
   holds enough moving pixels is handled on its own;
2. superpixels (``skimage.segmentation.slic`` restricted to the part) on
   features (u, v) plus CIELAB colour, so they follow motion and object edges;
   the compactness is kept in flow pixels (slic rescales features by their range);
3. a superpixel moves when a share of its pixels moves (flow faster than an
   absolute threshold, or colour changed): still superpixels are never part of
   a segment, while a moving object's slow, textureless pixels are;
4. a region adjacency graph of the moving superpixels weights neighbours by
   exp(-d^2 / sigma) of their mean-flow distance d, and
   ``skimage.graph.cut_normalized`` (seeded) splits parts that move differently,
   e.g. two touching objects.

Segments are labelled 1..N in a deterministic order (by their first pixel in
raster order); 0 is "still".
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import graph, segmentation

from pushseg.labeling.config import LabelConfig, Scaled

_EIGHT = np.ones((3, 3), dtype=bool)


def flow_rag(flow: np.ndarray, sp: np.ndarray, sigma_px2: float) -> graph.RAG:
    """Region adjacency graph of superpixels ``sp`` (0 = none) weighted by mean-flow similarity.

    The same graph as ``graph.rag_mean_color(mode="similarity")`` on (u, v)
    with 8-connectivity, built with numpy instead of a per-pixel Python loop
    (which cost ~100 ms per push); node 0 (still pixels) is left out.
    """
    n = int(sp.max())
    flat = sp.ravel()
    valid = np.isfinite(flow[..., 0]).ravel()  # NaN: a pixel that does not count for the mean
    count = np.bincount(flat, minlength=n + 1).astype(np.float64)
    n_valid = np.bincount(flat[valid], minlength=n + 1).astype(np.float64)
    mean = np.stack(
        [np.bincount(flat[valid], flow[..., c].ravel()[valid], minlength=n + 1) for c in range(2)], axis=1
    )
    mean /= np.maximum(n_valid, 1.0)[:, None]
    pairs = []
    for a, b in ((sp[:, :-1], sp[:, 1:]), (sp[:-1, :], sp[1:, :]), (sp[:-1, :-1], sp[1:, 1:]), (sp[:-1, 1:], sp[1:, :-1])):
        m = (a != b) & (a > 0) & (b > 0)
        pairs.append(np.stack([np.minimum(a[m], b[m]), np.maximum(a[m], b[m])], axis=1))
    edges = np.unique(np.concatenate(pairs), axis=0) if pairs else np.zeros((0, 2), np.int64)
    rag = graph.RAG()
    for i in range(1, n + 1):
        if count[i] > 0:
            rag.add_node(i, labels=[i], **{"pixel count": int(count[i]), "mean color": mean[i]})
    d2 = ((mean[edges[:, 0]] - mean[edges[:, 1]]) ** 2).sum(axis=1)
    for (a, b), w in zip(edges.tolist(), np.exp(-d2 / sigma_px2).tolist()):
        rag.add_edge(a, b, weight=w)
    return rag


def _features(flow: np.ndarray, rgb: np.ndarray, color_weight: float) -> np.ndarray:
    """Per-pixel SLIC features: (u, v) in pixels, then CIELAB colour times ``color_weight``."""
    feats = [flow.astype(np.float64)]
    if color_weight > 0:
        lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).astype(np.float64)
        feats.append(lab * color_weight)
    return np.concatenate(feats, axis=-1)


def _cut_region(
    flow: np.ndarray,
    moving: np.ndarray,
    region: np.ndarray,
    feats: np.ndarray,
    sc: Scaled,
    cfg: LabelConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Segment labels (>= 1) of the moving part of one connected ``region`` of a crop; 0 elsewhere."""
    area = int(region.sum())
    n_superpixels = min(int(round(area / sc.superpixel_area_px)), cfg.max_superpixels)
    if n_superpixels < 2:
        sp = region.astype(np.int32)
    else:
        # slic rescales the features to [0, 1] by their range; dividing the
        # compactness by that range keeps it in flow pixels (the reference
        # implementation's max-normalised flow colours made the same motion
        # weigh differently in every push).
        values = feats[region]
        span = float(values.max() - values.min()) or 1.0
        sp = segmentation.slic(
            feats,
            n_segments=n_superpixels,
            compactness=cfg.slic_compactness * sc.s / span,
            channel_axis=-1,
            convert2lab=False,
            enforce_connectivity=True,
            mask=region,
            start_label=1,
        )
    # A superpixel moves when most of its pixels do: still pixels are never a
    # segment, and a superpixel's few slow pixels (textureless insides, where
    # the flow fades) move with the rest of it.
    n = int(sp.max())
    total = np.bincount(sp.ravel(), minlength=n + 1)
    moved = np.bincount(sp.ravel(), weights=moving.ravel().astype(np.float64), minlength=n + 1)
    keep = moved >= cfg.superpixel_moving_frac * np.maximum(total, 1)
    keep[0] = False
    sp = np.where(keep[sp], sp, 0)
    if keep.sum() < 2:
        return (sp > 0).astype(np.int32)
    # Mean flow over each superpixel's moving pixels: the flow the object really has.
    rag = flow_rag(np.where(moving[..., None], flow, np.nan), sp, sc.ncut_sigma_px2)
    cut = graph.cut_normalized(sp, rag, thresh=cfg.ncut_thresh, num_cuts=cfg.ncut_num_cuts, rng=rng)
    cut[sp == 0] = 0
    return cut.astype(np.int32)


def relabel_raster(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 1..N by first appearance in raster order (0 stays 0)."""
    flat = labels.ravel()
    nz = np.flatnonzero(flat)
    n = int(labels.max()) if labels.size else 0
    lut = np.zeros(n + 1, dtype=np.int32)
    if len(nz):
        # First raster index of each label (a minimum per label, no sort of the whole image).
        first = np.full(n + 1, flat.size, dtype=np.int64)
        np.minimum.at(first, flat[nz], nz)
        ids = np.flatnonzero(first < flat.size)
        order = ids[np.argsort(first[ids], kind="stable")]
        lut[order] = np.arange(1, len(order) + 1, dtype=np.int32)
    return lut[labels]


def segment_motion(
    flow: np.ndarray,
    moving: np.ndarray,
    support: np.ndarray,
    rgb: np.ndarray,
    sc: Scaled,
    cfg: LabelConfig,
) -> np.ndarray:
    """(H, W) int32 segments of what moved (0 = still).

    ``flow`` is the filtered flow, ``moving`` the pixels with motion evidence,
    ``support`` the pixels a segment may contain (above the table; everything
    without the table filter) and ``rgb`` the before image, all of one crop.
    Each connected part of ``support`` that holds motion is cut into
    superpixels, the moving ones are grouped by normalized cut on their flow.
    """
    rng = np.random.default_rng(cfg.seed)
    components, _ = ndi.label(support, structure=_EIGHT)
    counts = np.bincount(components[moving], minlength=int(components.max()) + 1)
    out = np.zeros(moving.shape, dtype=np.int32)
    next_label = 1
    for i, sl in enumerate(ndi.find_objects(components), start=1):
        if sl is None or counts[i] < sc.min_area_px / 4:  # specks of flow noise cannot become a mask
            continue
        region = components[sl] == i
        feats = _features(flow[sl], rgb[sl], cfg.superpixel_color_weight)
        sub = _cut_region(flow[sl], moving[sl] & region, region, feats, sc, cfg, rng)
        ids = np.unique(sub[sub > 0])
        if len(ids) == 0:
            continue
        lut = np.zeros(int(sub.max()) + 1, dtype=np.int32)
        lut[ids] = np.arange(next_label, next_label + len(ids), dtype=np.int32)
        view = out[sl]
        inside = sub > 0
        view[inside] = lut[sub[inside]]
        next_label += len(ids)
    return relabel_raster(out)
