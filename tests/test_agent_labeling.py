"""The labelling agent: remembers what it pushed in its episode and pushes something else next."""

from __future__ import annotations

import numpy as np
import pytest

from pushseg.agents import AGENTS, LabelingPushAgent, make_agent
from pushseg.agents.episode import run_episode
from pushseg.agents.perception import GridSpec, TableMap
from pushseg.agents.separation import Candidate
from pushseg.data.collection import CollectConfig
from pushseg.envs import SimBackend
from pushseg.envs.push_env import PushSegEnv
from pushseg.errors import InputError
from pushseg.labeling.report import pushed_object
from pushseg.types import Push

GRID = GridSpec()


def table_map(boxes: dict[int, tuple[float, float, float, float]]) -> TableMap:
    """A table map whose segment k covers the base_link box (x0, x1, y0, y1) of ``boxes[k]``."""
    seg = np.zeros((GRID.nx, GRID.ny), np.int32)
    for k, (x0, x1, y0, y1) in boxes.items():
        i0, j0 = GRID.index(np.array([x0, y0]))
        i1, j1 = GRID.index(np.array([x1, y1]))
        seg[i0:i1, j0:j1] = k
    occ = seg > 0
    return TableMap(grid=GRID, table_z=0.7, occupied=occ, free=~occ, height=occ * 0.05,
                    pixel=-np.ones((GRID.nx, GRID.ny, 2), np.int64), segments=seg, image_fg=np.zeros((4, 4), bool))


def box(cx: float, cy: float, half: float = 0.03) -> tuple[float, float, float, float]:
    return (cx - half, cx + half, cy - half, cy + half)


def cand(segment: int, score: float, angle: float = 0.0, length: float = 0.10) -> Candidate:
    return Candidate(push=Push(10.0, 10.0, angle, length), segment=segment, score=score, clearance=0.05)


@pytest.fixture()
def camera():
    backend = SimBackend(width=128, height=72, num_objects=(1, 1))
    try:
        yield backend.reset(0).camera
    finally:
        backend.close()


def test_the_registry_and_collection_know_the_labeling_agent(camera):
    assert AGENTS["labelling"] is LabelingPushAgent
    assert isinstance(make_agent("labelling", camera, seed=0), LabelingPushAgent)
    assert CollectConfig(agent="labelling").agent == "labelling"
    with pytest.raises(InputError, match="match_radius"):
        LabelingPushAgent(camera, match_radius=0.0)


def test_prefers_an_unpushed_object_and_falls_back_to_the_score_when_all_were_pushed(camera):
    agent = LabelingPushAgent(camera, seed=0)
    first = table_map({1: box(0.60, 0.00), 2: box(0.60, 0.20)})
    agent.match(first)
    assert agent.choose(first, [cand(1, 1.0), cand(2, 0.5)]).segment == 1  # nothing pushed yet: the best score
    # Object 1 slid the planned 10 cm along +x; object 2 stayed.
    after = table_map({1: box(0.70, 0.00), 2: box(0.60, 0.20)})
    assert agent.match(after) == {1}
    agent.pushed_segments = {1}
    assert agent.choose(after, [cand(1, 5.0), cand(2, 0.1, angle=np.pi / 2)]).segment == 2  # unpushed wins over a far better score
    # Both pushed now (object 2 moved +y as planned): the separation score decides again.
    both = table_map({1: box(0.70, 0.00), 2: box(0.60, 0.30)})
    agent.pushed_segments = agent.match(both)
    assert agent.pushed_segments == {1, 2}
    assert agent.choose(both, [cand(1, 0.2), cand(2, 0.9)]).segment == 2


@pytest.mark.parametrize("moved_to, pieces", [
    (0.60, 1),  # did not move at all
    (0.64, 1),  # slid 4 of the planned 10 cm
    (0.74, 1),  # slid 4 cm further than planned
    (0.70, 2),  # moved as planned, and the map now splits it in two
])  # fmt: skip
def test_a_pushed_object_is_recognised_when_it_did_not_move_as_planned(camera, moved_to, pieces):
    agent = LabelingPushAgent(camera, seed=0)
    before = table_map({1: box(0.60, 0.00), 2: box(0.60, 0.15)})
    agent.match(before)
    agent.choose(before, [cand(1, 1.0)])  # +x, 10 cm
    if pieces == 1:
        seen = table_map({1: box(0.60, 0.15), 2: box(moved_to, 0.00)})  # segment numbers change between maps
    else:
        seen = table_map({1: box(0.60, 0.15), 2: (moved_to - 0.03, moved_to + 0.03, -0.03, 0.0),
                          3: (moved_to - 0.03, moved_to + 0.03, 0.0, 0.03)})
    assert agent.match(seen) == set(range(2, pieces + 2)), "the neighbour at y = 0.15 was never pushed"


@pytest.mark.slow
def test_pushes_three_objects_where_the_separation_agent_pushes_one_and_is_seeded():
    """A target-train scene of 5-6 objects (256x144 to keep it short) where the separation agent
    pushes the same object three times: the labelling agent moves three different ones, and
    replays exactly from its seed."""
    env = PushSegEnv(width=256, height=144, objects="target-train", num_objects=(5, 6))
    try:
        def episode(name):
            return list(run_episode(env, lambda cam: make_agent(name, cam, seed=4), 3, seed=27))

        runs = [episode("labelling") for _ in range(2)]
        moved = [pushed_object(t) for t in runs[0]]
        assert 0 not in moved and len(set(moved)) == 3, moved
        assert [t.push for t in runs[0]] == [t.push for t in runs[1]]
        assert len({pushed_object(t) for t in episode("separation")}) < 3  # the scene is a real test
    finally:
        env.close()


def test_the_benchmark_counts_distinct_labeled_objects_per_episode(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "label_quality.py"
    spec = importlib.util.spec_from_file_location("label_quality", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [
        {"kind": "push", "episode": 0, "accepted": True, "pushed_id": 3, "iou": 0.9},
        {"kind": "push", "episode": 0, "accepted": True, "pushed_id": 3, "iou": 0.8},  # the same object again
        {"kind": "push", "episode": 0, "accepted": True, "pushed_id": 5, "iou": 0.2},  # a poor label
        {"kind": "push", "episode": 0, "accepted": False, "reason": "no_motion"},
        {"kind": "image", "episode": 0, "objects": 4},
        {"kind": "push", "episode": 1, "accepted": True, "pushed_id": 0, "iou": 0.0},  # moved nothing
        {"kind": "image", "episode": 1, "objects": 2},
    ]
    report = tmp_path / "labels_report.jsonl"
    report.write_text("".join(json.dumps(r) + "\n" for r in rows))
    eps = bench.distinct_objects(report)
    assert [(e["distinct"], e["distinct_iou_50"], e["objects"], e["pushes"]) for e in eps] == [(2, 1, 4, 4), (0, 0, 2, 1)]
