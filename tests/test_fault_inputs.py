"""Bad inputs to the commands: exit 2, one clear line naming the problem, no traceback, no success.

The catalogue is tests/bad_inputs.py; the cases that load models or train run in
benchmarks/reliability.py (each in its own process).
"""

from __future__ import annotations

import pytest

import bad_inputs as bi
from conftest import run_pushseg

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    return bi.make_fixtures(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", bi.LIGHT, ids=[c[0] for c in bi.LIGHT])
def test_bad_input_is_a_clear_error(case, fixtures, capsys):
    _, template, expected = case
    try:
        rc = run_pushseg(*bi.argv_of(template, fixtures))
    except SystemExit as e:  # argparse's own errors: usage and one error line, exit 2
        rc = e.code
    err = capsys.readouterr().err
    assert bi.verdict(rc, err, expected) == "ok", (rc, err)


def test_the_catalogue_is_big_enough():
    assert len(bi.CASES) >= 200 and len({c[0] for c in bi.CASES}) == len(bi.CASES)


def test_training_checks_the_digest_of_every_image(fixtures):
    from pushseg.errors import InputError
    from pushseg.training.data import load_scene_set

    assert len(load_scene_set(fixtures["coco"], 48)) == 1
    with pytest.raises(InputError, match="swapped_image.png does not match the hash stored for it in .*coco_swapped"):
        load_scene_set(fixtures["coco_swapped"], 48)
    assert len(load_scene_set(fixtures["coco_swapped"], 48, verify_digests=False)) == 1


def test_labeler_given_an_action_array_or_an_observation_says_what_to_pass():
    import numpy as np

    from pushseg.errors import InputError
    from pushseg.geometry import kinect2_camera
    from pushseg.labeling.labeler import Labeler
    from pushseg.types import Push

    cam = kinect2_camera(64, 48)
    rgb = np.zeros((48, 64, 3), np.uint8)
    depth = np.ones((48, 64), np.float32)
    labeler = Labeler()
    with pytest.raises(InputError, match="push must be a pushseg.types.Push, got ndarray.*Push.from_array"):
        labeler.label(rgb, rgb, depth, cam, np.array([10, 10, 0.0, 0.1]))
    with pytest.raises(InputError, match="before_rgb is a dict.*obs\\['rgb'\\]"):
        labeler.label({"rgb": rgb, "depth": depth}, rgb, depth, cam, Push(10, 10, 0.0, 0.1))
    with pytest.raises(InputError, match="non-finite angle"):
        labeler.label(rgb, rgb, depth, cam, Push(10, 10, float("nan"), 0.1))


def test_malformed_rle_in_python_is_an_input_error():
    from pushseg.data.coco import decode_mask
    from pushseg.errors import InputError

    for rle, why in (({"size": [10, 10], "counts": ""}, "add up to 0"), ({"size": [10, 10], "counts": "0T"}, "ends"),
                     ({"size": [10, -1], "counts": "0"}, "positive"), ("0T3", "RLE object")):
        with pytest.raises(InputError, match=why):
            decode_mask(rle)
