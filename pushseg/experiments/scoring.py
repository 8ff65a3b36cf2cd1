"""One model on one scene set, as the experiments score it: the segmenter, NMS, COCO results.

Detections are made without NMS; each threshold is applied afterwards (:func:`apply_nms`),
so that the operating point (:mod:`pushseg.experiments.operating_point`) tries a whole
grid of thresholds on one pass of the network.
"""

from __future__ import annotations

from typing import Any

from pushseg.training.config import InferenceConfig
from pushseg.training.inference import Segmenter
from pushseg.training.nms import mask_nms


def segmenter_for(model, profile) -> Segmenter:
    """A :class:`pushseg.experiments.specs.Profile`'s inference settings; NMS and the pyramid are left to the operating point.

    ``scales`` (the profile's, else the model's own) is the fixed pyramid of images where a
    camera pyramid cannot be made."""
    scales = profile.scales or tuple(model.meta.get("scales", (1.0,)))
    return Segmenter(model, InferenceConfig(scales=scales, top_k=profile.top_k, nms_threshold=None,
                                            pyramid="fixed"))


def apply_nms(dets: list, threshold: float | None) -> list:
    if threshold is None or not dets:
        return list(dets)
    keep = mask_nms([d.rle for d in dets], [d.score for d in dets], threshold)
    return [dets[i] for i in keep]


def to_results(image_ids: list[int], per_image: list[list]) -> list[dict[str, Any]]:
    res = []
    for image_id, dets in zip(image_ids, per_image):
        for d in dets:
            rle = dict(d.rle)
            if isinstance(rle.get("counts"), bytes):
                rle["counts"] = rle["counts"].decode("ascii")
            res.append({"image_id": int(image_id), "category_id": 1, "segmentation": rle, "score": float(d.score)})
    return res
