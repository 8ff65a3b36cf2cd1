"""The real-robot YAML config: PR2 defaults, user overrides, clear errors."""

from __future__ import annotations

import pytest

from pushseg.errors import InputError
from pushseg.real.config import DEFAULTS_FILE, load_config
from pushseg.real.kinematics import TUCKED, pr2_arm


def test_defaults_are_the_pr2_ones():
    c = load_config()
    assert c.get("topics.color") == "/kinect2/qhd/image_color_rect"
    assert c.get("topics.depth") == "/kinect2/qhd/image_depth_rect"
    assert c.get("topics.camera_info") == "/kinect2/qhd/camera_info"
    assert c.get("topics.arm_action.r") == "/r_arm_controller/joint_trajectory_action"
    assert c.get("topics.motors_halted") == "/pr2_ethercat/motors_halted"
    assert c.get("frames.camera") == "head_mount_kinect2_rgb_optical_frame"
    for side in "rl":
        # The tucked poses, moved (by at most 0.04 rad) inside the soft joint limits.
        assert abs(c.arm_pose("out_of_view", side) - TUCKED[side]).max() < 0.04
    assert not c.dry_run


def test_default_poses_lie_inside_the_soft_limits_with_the_margin():
    c = load_config()
    margin = c.get("safety.soft_limit_margin")
    assert margin > 0
    for side in "rl":
        arm = pr2_arm(side)
        for q in [c.arm_pose("out_of_view", side), c.arm_pose("ik_rest", side), *c.via_poses(side)]:
            assert arm.soft_limit_violations(q, margin) == []
            assert arm.within_limits(q)


@pytest.mark.parametrize(
    "key,pose,match",
    [
        # The old default via poses: shoulder pan beyond the soft limit (right -2.2 < -2.1354, left -0.66 < -0.5646).
        ("r", [[-2.2, 0.56, -2.39, -2.09, -0.27, -0.92, 0.43]], r"arms.via.r\[0\]: r_shoulder_pan_joint = -2.2000 rad, "
         r"below -2.1054 \(soft lower limit -2.1354 \+ margin 0.03\)"),
        ("l", [[-0.66, 1.2, 1.5, -2.01, -1.69, -1.38, -0.26]], r"arms.via.l\[0\]: l_shoulder_pan_joint = -0.6600 rad, "
         r"below -0.5346 \(soft lower limit -0.5646"),
        # Inside the soft limit but within the margin of it.
        ("r", [[-2.12, 0.56, -2.39, -2.09, -0.27, -0.92, 0.43]], r"r_shoulder_pan_joint = -2.1200 rad, below -2.1054"),
    ],
)
def test_poses_beyond_a_soft_limit_are_refused_at_load(key, pose, match):
    with pytest.raises(InputError, match=match):
        load_config(overrides={"arms": {"via": {key: pose}}})


def test_soft_limit_margin_is_checked():
    # A zero margin accepts a pose just inside the soft limit; a wild margin is refused.
    load_config(overrides={"safety": {"soft_limit_margin": 0.0},
                           "arms": {"via": {"r": [[-2.13, 0.56, -2.39, -2.09, -0.27, -0.92, 0.43]]}}})
    with pytest.raises(InputError, match=r"safety.soft_limit_margin: must be radians in \[0, 0.2\]"):
        load_config(overrides={"safety": {"soft_limit_margin": 0.5}})
    with pytest.raises(InputError, match=r"arms.out_of_view.l: l_wrist_flex_joint = -0.0962 rad, above -0.1300"):
        load_config(overrides={"arms": {"out_of_view": {"l": TUCKED["l"].tolist()}}})


def test_user_file_overrides_only_what_it_lists(tmp_path):
    f = tmp_path / "my_pr2.yaml"
    f.write_text("topics:\n  color: /cam/rgb\nsafety:\n  dry_run: true\n  max_push_length: 0.1\n")
    c = load_config(f)
    assert c.get("topics.color") == "/cam/rgb"
    assert c.get("topics.depth") == "/kinect2/qhd/image_depth_rect"
    assert c.dry_run and c.get("safety.max_push_length") == 0.1
    assert c.with_overrides({"safety": {"dry_run": False}}).dry_run is False


@pytest.mark.parametrize(
    "text,match",
    [
        ("topics:\n  colour: /x\n", r"^real\.topics\.colour: unknown setting; TopicsConfig has color, "),
        ("safety:\n  max_push_speed: fast\n", r"^real\.safety\.max_push_speed: must be a number, got 'fast'$"),
        ("safety:\n  table: [0.3, 1.3]\n", r"^real\.safety\.table: must be a mapping of TableBox fields"),
        ("push:\n  speed: 0.5\n", r"push.speed.*max_push_speed"),
        ("safety:\n  workspace:\n    x: [0.9, 0.4]\n", r"safety.workspace.x"),
        ("arms:\n  out_of_view:\n    r: [0, 0]\n", r"arms.out_of_view.r.*7 joint angles"),
        ("timeouts:\n  image: 0\n", r"timeouts.image"),
        ("safety:\n  workspace:\n    z_above_table: [0.03, 0.3]\n", r"floor"),
        ("- just\n- a list\n", r"mapping"),
    ],
)
def test_bad_user_files_are_clear_errors(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(InputError, match=match):
        load_config(f)


def test_missing_file_names_the_defaults():
    with pytest.raises(InputError, match=str(DEFAULTS_FILE.name)):
        load_config("/nonexistent/pr2.yaml")
