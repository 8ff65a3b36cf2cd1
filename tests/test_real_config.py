"""The real-robot YAML config: PR2 defaults, user overrides, clear errors."""

from __future__ import annotations

import pytest

from pushseg.errors import InputError
from pushseg.real.config import DEFAULTS_FILE, load_config
from pushseg.real.kinematics import TUCKED


def test_defaults_are_the_pr2_ones():
    c = load_config()
    assert c.get("topics.color") == "/kinect2/qhd/image_color_rect"
    assert c.get("topics.depth") == "/kinect2/qhd/image_depth_rect"
    assert c.get("topics.camera_info") == "/kinect2/qhd/camera_info"
    assert c.get("topics.arm_action.r") == "/r_arm_controller/joint_trajectory_action"
    assert c.get("topics.motors_halted") == "/pr2_ethercat/motors_halted"
    assert c.get("frames.camera") == "head_mount_kinect2_rgb_optical_frame"
    for side in "rl":
        assert c.arm_pose("out_of_view", side).tolist() == TUCKED[side].tolist()
    assert not c.dry_run


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
        ("topics:\n  colour: /x\n", r"unknown real-robot config key 'topics.colour'"),
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
