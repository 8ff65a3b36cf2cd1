"""The startup race of a real PR2: the head's tf comes on /tf at 20 Hz, and the first images are older than
anything the backend's tf buffer holds. Such images are dropped and the next one is used.

The backend runs in a process of its own (a process has one ROS node, and tests/test_real_ros.py's is shut
down when its module ends); this process holds the rosmaster and the fake PR2.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ros_fixtures import REPO, FakePR2Process, ros_master

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.filterwarnings("ignore:notifyAll:DeprecationWarning")]

FAST = {"timeouts": {"image": 3.0, "tf": 3.0, "joint_states": 3.0, "motors_halted": 3.0, "action_server": 2.0}}

BACKEND_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys, time
    from pushseg.errors import BackendError
    from pushseg.real import RealBackend

    dropped = []

    class Dropped(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("dropped the image stamped"):
                dropped.append(float(record.args[0]))

    log = logging.getLogger("pushseg.real")
    log.addHandler(Dropped())
    log.setLevel(logging.INFO)
    t0 = time.monotonic()
    try:
        backend = RealBackend(dry_run=True, overrides=json.loads(sys.argv[1]))
    except BackendError as e:
        print("RESULT " + json.dumps({"error": str(e), "elapsed": time.monotonic() - t0, "dropped": dropped}))
        sys.exit(0)
    elapsed = time.monotonic() - t0
    first = backend._frame
    frame = backend.observe()
    backend.close()
    print("RESULT " + json.dumps({"elapsed": elapsed, "dropped": dropped, "first": first.timestamp,
                                  "observed": frame.timestamp, "T_first": first.camera.T_base_camera.tolist(),
                                  "T_observed": frame.camera.T_base_camera.tolist()}))
    """
)


@pytest.fixture(scope="module")
def master():
    with ros_master() as env:
        yield env


def _backend(overrides: dict) -> dict:
    """Construct a RealBackend (dry run) in its own process and observe once: what happened, as a dict."""
    proc = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT, json.dumps(overrides)], cwd=REPO,
                          capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and results, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(results[-1].removeprefix("RESULT "))


def test_images_older_than_the_tf_buffer_are_dropped_and_the_next_is_used(master):
    # The first three images the backend gets are stamped 0.3 s before they are sent: before any transform
    # its tf listener (connected at the same moment) can hold. Images come at 10 Hz, tf at 20 Hz.
    with FakePR2Process("--tf-rate", "20", "--early-images", "3", "--early-by", "0.3"):
        out = _backend(FAST)
    assert "error" not in out, out["error"]
    assert out["dropped"], "the race did not happen: no image was older than the tf buffer"
    assert all(out["first"] > stamp for stamp in out["dropped"])  # a later image was used
    assert out["elapsed"] < 3.0  # within timeouts.image, without waiting out timeouts.tf
    assert out["observed"] >= out["first"]
    T = np.array(out["T_first"])
    np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(np.array(out["T_observed"]), T, atol=1e-6)  # the head does not move
    assert 1.0 < T[2, 3] < 2.0  # the head camera, above base_link


def test_when_every_image_is_older_than_the_tf_buffer_the_error_names_the_stamps(master):
    # Stamped 1.5 s early (still fresh by camera.max_image_age): no image within the 1 s image timeout is
    # as recent as the first transform the backend's buffer got.
    with FakePR2Process("--tf-rate", "20", "--early-images", "1000", "--early-by", "1.5"):
        out = _backend({"timeouts": {**FAST["timeouts"], "image": 1.0}})
    assert "error" in out, "the backend started although every image was older than its tf buffer"
    assert out["dropped"]
    assert out["elapsed"] < 5.0
    assert re.search(
        r"no usable image within 1\.0 s: \d+ image\(s\) were older than the oldest transform tf holds for "
        r"base_link <- head_mount_kinect2_rgb_optical_frame .*stamps \d+\.\d{3} to \d+\.\d{3} s; tf's oldest "
        r"transform \d+\.\d{3} s.*clocks .* in sync", out["error"]), out["error"]
