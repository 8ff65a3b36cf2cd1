"""The labeler against the nuisances of a real robot: the simulation's ``robot`` world, and a pure exposure change."""

from __future__ import annotations

import numpy as np
import pytest

from pushseg.labeling import Labeler, LabelConfig
from pushseg.labeling.report import assess, pushed_object
from pushseg.labeling.synthetic import Block, Scene, make_transition
from pushseg.types import Push


def test_a_push_that_only_changed_the_exposure_is_rejected():
    # Nothing moved; the camera's auto exposure and white balance settled
    # differently for the after image (brighter, warmer, with a tone curve).
    scene = Scene(480, 270, [Block(200, 110, 60, 44, seed=3), Block(90, 60, 50, 50, seed=5, color=(50, 90, 200))], seed=1)
    t = make_transition(scene, Push(201.0, 132.0, 0.0, 0.05))
    after = t.after.rgb.astype(np.float32) / 255.0
    after = 255.0 * np.clip((after ** 0.85) * np.array([1.18, 1.10, 0.97], np.float32), 0.0, 1.0)
    t.after.rgb = np.round(after).astype(np.uint8)
    assert np.abs(t.after.rgb.astype(int) - t.before.rgb).mean() > 10  # a large change of every pixel
    res = Labeler(LabelConfig()).label_transition(t)
    assert not res.label.accepted, res.stats
    # At most specks of residual change remain, never a segment at the push.
    assert res.label.reason in ("no_motion", "no_segment_at_push", "small_motion", "too_small"), res.label.reason
    # Without the colour matching and the minimum motion the same pair gives a (wrong) label: the test can fail.
    raw = Labeler(LabelConfig(normalize_colours=False, min_motion_m=0.0)).label_transition(t)
    assert raw.label.accepted
    # The minimum motion alone refuses it: the changed colours did not move.
    assert Labeler(LabelConfig(normalize_colours=False)).label_transition(t).label.reason == "small_motion"


@pytest.mark.slow
def test_robot_world_pushes_give_a_label_on_the_pushed_object():
    from pushseg.agents import SeparationPushAgent
    from pushseg.envs.sim_backend import SimBackend
    from pushseg.types import Transition

    backend = SimBackend(width=480, height=270, num_objects=(3, 5), world="robot")
    labeler = Labeler(LabelConfig())
    ious = []
    try:
        frame = backend.reset(seed=11)
        agent = SeparationPushAgent(backend.camera, seed=11, workspace=backend.workspace)
        for step in range(4):
            push = agent.act(frame)
            result = backend.push(push)
            after = backend.observe()
            t = Transition(frame, after, push, result, "sim", seed=11, step=step)
            frame = after
            if not result.executed:
                continue
            lab = labeler.label_transition(t).label
            if lab.accepted:
                ious.append(assess(lab.mask, t.before.instance_ids, pushed_object(t)).iou)
    finally:
        backend.close()
    assert ious and max(ious) >= 0.5, ious
