"""Fig. 4, interactive segmentation: segment a cluttered scene again after every push.

``make_interactive`` replays the first target-test scenes (same scene seeds, same
simulated world as ``pushseg scenes`` made them) and lets the separation agent
push up to ``pushes`` times in each; after every push it stores the image and the
ground truth of that moment. Step 0 is the untouched scene. A push the backend
refuses leaves the scene as it was, and the step still counts: the robot tried.

``score_interactive`` segments every step's images with one model and gives AP
after 0, 1, ..., ``pushes`` pushes, plus per-scene records for intervals.

Layout of ``OUT/data/interactive``::
    images/s000_p00.png       scene 0 after 0 pushes (RGB)
    depth/s000_p00.png        its depth (16-bit mm; the camera is in the step's image entry)
    instances/s000_p00.png    its ground-truth instance ids (16-bit)
    step_00.json              COCO ground truth of every scene after 0 pushes
    meta.json                 scene seeds, pushes, what each push did; written last
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pushseg import files
from pushseg.agents import make_agent
from pushseg.data import images as img
from pushseg.data.coco import CocoBuilder
from pushseg.data.scenes import make_backend
from pushseg.experiments.scene_ap import ap_of, records_to_json, scene_records
from pushseg.experiments.operating_point import OperatingPoint, load_scene_set, score
from pushseg.experiments.scoring import to_results


def make_interactive(out_dir: Path, scene_seeds: list[int], pushes: int, profile, scenes_cfg,
                     *, progress: bool = False) -> Path:
    """``scenes_cfg``: the ScenesConfig the target-test scenes were made with (same objects, world, size)."""
    out_dir = Path(out_dir)
    if (out_dir / "meta.json").is_file():
        return out_dir
    shutil.rmtree(out_dir, ignore_errors=True)
    (out_dir / "images").mkdir(parents=True)
    (out_dir / "instances").mkdir()
    (out_dir / "depth").mkdir()
    cfg = scenes_cfg
    backend = make_backend(cfg)
    steps = [CocoBuilder(info={"description": f"interactive test scenes after {k} pushes"}) for k in range(pushes + 1)]
    log: list[dict[str, Any]] = []
    try:
        for i, seed in enumerate(tqdm(scene_seeds, desc="interactive scenes", unit="scene", disable=not progress)):
            frame = backend.reset(seed=seed)
            agent_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
            agent = make_agent("separation", frame.camera, seed=agent_seed,
                               workspace=getattr(backend, "workspace", None))
            for k in range(pushes + 1):
                if k > 0:
                    push = agent.act(frame)
                    result = backend.push(push)
                    frame = backend.observe()
                    log.append({"scene": i, "push": k, "executed": bool(result.executed),
                                "reason": getattr(result, "reason", "")})
                name = f"s{i:03d}_p{k:02d}.png"
                files.write_atomic(out_dir / "images" / name, img.encode_rgb(frame.rgb), sync_dir=False)
                files.write_atomic(out_dir / "instances" / name, img.encode_instance_ids(frame.instance_ids),
                                 sync_dir=False)
                # depth and camera: the camera pyramid and depth models need them, as on target-test
                files.write_atomic(out_dir / "depth" / name, img.encode_depth(frame.depth), sync_dir=False)
                image_id = steps[k].add_image(f"images/{name}", profile.width, profile.height, scene=i, seed=seed,
                                              depth_file=f"depth/{name}", camera=frame.camera.to_dict())
                ids, counts = np.unique(frame.instance_ids, return_counts=True)
                for iid, n in zip(ids.tolist(), counts.tolist()):
                    if iid != 0 and n >= cfg.min_pixels:
                        steps[k].add_mask(image_id, frame.instance_ids == iid, instance_id=iid)
    finally:
        backend.close()
    for k, b in enumerate(steps):
        b.write(out_dir / f"step_{k:02d}.json")
    meta = {"scene_seeds": scene_seeds, "pushes": pushes, "width": profile.width, "height": profile.height,
            "objects": [profile.min_objects, profile.max_objects], "log": log}
    files.write_json_atomic(out_dir / "meta.json", meta)
    return out_dir


def score_interactive(data_dir: Path, segmenter, op: OperatingPoint) -> dict[str, Any]:
    """AP after each push for one model, at its operating point chosen on target-val."""

    meta = json.loads((Path(data_dir) / "meta.json").read_text())
    curve: dict[str, Any] = {"pushes": list(range(meta["pushes"] + 1)), "AP50": [], "AP75": [], "AP": [],
                             "scenes": []}
    for k in curve["pushes"]:
        scenes = load_scene_set(Path(data_dir) / f"step_{k:02d}.json", segmenter.model)
        recs = scene_records(scenes.gt, to_results(scenes.ids, score(segmenter, scenes, op)))
        m = ap_of(recs)
        for key in ("AP50", "AP75", "AP"):
            curve[key].append(m[key])
        curve["scenes"].append(records_to_json(recs))
    return curve
