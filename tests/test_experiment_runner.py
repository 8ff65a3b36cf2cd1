"""``pushseg experiment``: specs, splits that cannot leak, and the smoke profile end to end."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from pushseg.cli.main import main
from pushseg.errors import InputError
from pushseg.pipeline.experiment import plan, run_experiment
from pushseg.experiments.specs import PROFILES, SPECS, load_profile, load_spec
from pushseg.experiments.splits import SPLITS, check_disjoint, episode_seeds, scene_seeds, split_seed

SMOKE_ROWS = ["pretrained-nms", "selfdeepmask-small"]


# -- specs and profiles ---------------------------------------------------------------------------


def test_every_spec_and_profile_loads_and_shared_rows_mean_one_recipe():
    for name in SPECS:
        assert load_spec(name).variants
    for name in PROFILES:
        p = load_profile(name)
        assert p.episodes["small"] <= p.episodes["large"]
    p = plan(["all"], load_profile("quick"), 3)  # raises if a key means two recipes
    keys = {c.variant.key for c in p.cells}
    # pretrained rows train nothing and run once; the rest once per seed
    assert sum(c.variant.key == "pretrained" for c in p.cells) == 1
    assert sum(c.variant.key == "selfdeepmask-large" for c in p.cells) == 3
    big = next(c for c in p.cells if c.variant.key == "selfdeepmask-large")
    assert big.evaluations == ("test", "interactive")  # Table I/III and Fig. 4 share one cell
    assert {"framediff-small", "coteaching-large", "oracle-push-large", "oracle-all-large",
            "no-prior-small", "no-table-filter-small", "reed-hard-large", "self-paced-large"} <= keys


def test_table1_rows_are_the_issues_rows():
    t1 = load_spec("table1")
    assert [v.labels for v in t1.variants] == ["none", "none", "self", "self", "self", "self", "oracle-push",
                                              "oracle-all", "self", "oracle-push", "oracle-all", "self", "self",
                                              "self", "self"]
    # like for like: each oracle trains as the SelfDeepMask row it is compared with
    for oracle, row in [("oracle-push-large", "selfdeepmask-large"), ("oracle-all-large", "selfdeepmask-large"),
                        ("oracle-push-nobootstrap-large", "noise-none-large"),
                        ("oracle-all-nobootstrap-large", "noise-none-large")]:
        assert t1.variant(oracle).train == t1.variant(row).train and [oracle, row] in map(list, t1.comparisons)
    assert t1.variant("noise-none-large").recipe() == load_spec("table3").variant("noise-none-large").recipe()
    episode = [v for v in t1.variants if v.labeler.get("episode_labels")]
    assert [v.train.get("bootstrap", True) for v in episode] == [False, True, False, False]
    assert episode[2].train.get("train_mask") is True
    # the agent is part of a recipe only where it is not the default, so older cells stay valid
    assert "agent" not in t1.variant("episode-large").recipe()
    assert t1.variant("episode-agent-large").recipe()["agent"] == "labelling"
    assert t1.variant("framediff-small").labeler == {"method": "framediff"}
    assert t1.variant("pretrained").nms == "off" and t1.variant("pretrained-nms").nms == "tuned"
    paper = load_profile("paper")
    assert (paper.val_scenes, paper.test_scenes, paper.seeds) == (50, 190, 5)
    assert paper.episodes["large"] * paper.pushes_per_episode == 2300
    assert (paper.finetune["epochs"], paper.finetune["batches_per_epoch"], paper.finetune["batch_size"]) == (10, 100, 32)


def test_bad_specs_and_profiles_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="unknown"):
        load_spec("table9")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nvariants:\n  - {key: a, labels: telepathy}\n")
    with pytest.raises(InputError, match="labels must be one of"):
        load_spec(str(bad))
    bad.write_text("name: x\nvariants:\n  - {key: a, agent: telepathy}\n")
    with pytest.raises(InputError, match="agent must be one of"):
        load_spec(str(bad))
    bad.write_text("name: x\nvariants:\n  - {key: a}\ncomparisons:\n  - [a, b]\n")
    with pytest.raises(InputError, match="must name two of its variants"):
        load_spec(str(bad))
    with pytest.raises(InputError, match="unknown keys"):
        load_profile("smoke", {"epochz": 3})
    assert main(["experiment", "table1", "--profile", "nope", "--out", str(tmp_path / "o")]) == 2
    assert main(["experiment", "table1", "--profile", "smoke", "--set", "profile.epochz=1", "--out", str(tmp_path / "o")]) == 2
    from pushseg.experiments.specs import profile_overrides

    over = profile_overrides("smoke", ["profile.test_scenes=5", "profile.finetune.epochs=3"])
    p = load_profile("smoke", over)
    with pytest.raises(InputError, match=r"write profile\.key=value"):  # one --set syntax: section.key=value
        profile_overrides("smoke", ["test_scenes=5"])
    assert p.test_scenes == 5 and p.finetune == {"epochs": 3, "batches_per_epoch": 4, "batch_size": 8}


# -- splits ----------------------------------------------------------------------------------------


def test_splits_have_independent_seed_streams_and_disjoint_scenes():
    seeds = {s: split_seed(s, 0) for s in SPLITS}
    assert len(set(seeds.values())) == len(SPLITS)
    assert split_seed("target-train", 0) != split_seed("target-train", 1)
    # the paper profile's sizes: 50 val, 190 test, 5 seeds x 460 episodes: no scene seed shared
    paper = load_profile("paper")
    sets = {"target-val": scene_seeds("target-val", 0, paper.val_scenes),
            "target-test": scene_seeds("target-test", 0, paper.test_scenes)}
    for s in range(paper.seeds):
        sets[f"train {s}"] = episode_seeds(s, paper.episodes["large"])
    check_disjoint(sets)
    assert min(sets["target-val"]) >= 2**32 > max(sets["target-test"])  # apart by construction, too
    # a smaller data size is a prefix of the larger one (the same pushes, fewer of them)
    assert episode_seeds(0, 10)[:4] == episode_seeds(0, 4)
    with pytest.raises(InputError, match="share scene seed"):
        check_disjoint({"a": [1, 2], "b": [2, 3]})


def test_robot_pushes_other_objects_than_val_and_test_show():
    from pushseg.envs.objects import object_set
    from pushseg.experiments.splits import OBJECTS

    train = set(object_set(OBJECTS["target-train"]).names)
    for split in ("target-val", "target-test"):
        assert not train & set(object_set(OBJECTS[split]).names)


# -- the smoke profile end to end ----------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    t = time.perf_counter()
    summary = run_experiment(["table1"], out, "smoke", only=SMOKE_ROWS, progress=False)
    return out, summary, time.perf_counter() - t


@pytest.mark.slow
def test_smoke_runs_two_cells_end_to_end(smoke):
    out, summary, seconds = smoke
    assert summary["cells"] == 2 and not summary["failed"]
    for key in SMOKE_ROWS:
        cell = out / "cells" / key / "seed-0"
        for f in ("config.json", "log.txt", "val.json", "test.json", "test_results.json", "done.json"):
            assert (cell / f).is_file(), f
        test = json.loads((cell / "test.json").read_text())
        assert 0 <= test["metrics"]["AP"] <= test["metrics"]["AP50"] <= 100
        assert len(test["scenes"]) == 3  # per-scene records for the bootstrap
        assert test["clutter"] == ["separated", "touching", "piled"]  # and each scene's clutter level
        val = json.loads((cell / "val.json").read_text())
        # the operating point: every pyramid x threshold of the grid scored on target-val, the best kept
        assert val["grid"] == {"pyramids": ["1.41", "2", "camera"], "nms": [0.4, 0.5]}
        assert len(val["table"]) == 6 and val["operating_point"] in [
            {"pyramid": r["pyramid"], "nms": r["nms"]} for r in val["table"]]
        best = max(r["AP"] for r in val["table"])
        assert val["val"]["AP"] == best
        done = json.loads((cell / "done.json").read_text())
        assert done["operating_point"] == val["operating_point"] == test["operating_point"]
    assert (out / "cells" / "selfdeepmask-small" / "seed-0" / "model" / "model.pt").is_file()
    cfg = json.loads((out / "cells" / "selfdeepmask-small" / "seed-0" / "config.json").read_text())
    assert cfg["finetune"]["seed"] == 0 and cfg["collection"]["episodes"] == 2
    report = (out / "table1" / "report.md").read_text()
    assert "| SelfDeepMask (small) |" in report and "76.8 ± 2.9" in report  # ours beside the paper's
    data = json.loads((out / "table1" / "report.json").read_text())
    comp = next(c for c in data["comparisons"] if c["a"] == "selfdeepmask-small" and c["b"] == "pretrained-nms")
    assert comp["AP50"]["bootstrap_paired"] and comp["AP50"]["verdict"] in (
        "better", "worse", "no clear difference")
    two = comp["AP50"]["two_level"]  # the verdict's interval holds the scene-only one
    assert two["low"] <= comp["AP50"]["bootstrap"]["low"] and two["high"] >= comp["AP50"]["bootstrap"]["high"]
    row = next(r for r in data["rows"] if r["key"] == "selfdeepmask-small")
    assert row["operating_points"]["0"]["pyramid"] in ("1.41", "2", "camera")
    assert set(row["clutter"]) == {"separated", "touching", "piled"} and set(comp["clutter"]) == set(row["clutter"])
    assert "## By clutter level of the test scenes" in report
    for png in ("bars.png", "labels.png"):
        assert (out / "table1" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary_md = (out / "summary.md").read_text()
    assert "SelfDeepMask (large) − pretrained + NMS | AP50 | not run" in summary_md  # that row was not asked for


@pytest.mark.slow
def test_a_row_scored_without_an_operating_point_fails_loudly(smoke, tmp_path):
    import shutil

    out, _, _ = smoke
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    done = copy / "cells" / "pretrained-nms" / "seed-0" / "done.json"
    record = json.loads(done.read_text())
    del record["operating_point"]  # as an older pushseg wrote it
    done.write_text(json.dumps(record))
    with pytest.raises(InputError, match="pretrained-nms/seed-0.*no operating point"):
        run_experiment(["table1"], copy, "smoke", only=SMOKE_ROWS, progress=False, report_only=True)


@pytest.mark.slow
def test_reports_rebuilt_from_exported_records_are_the_same(smoke, tmp_path):
    out, _, _ = smoke
    records = tmp_path / "records.json.gz"
    assert main(["records", "export", str(out), str(records)]) == 0
    again = tmp_path / "again.json.gz"
    main(["records", "export", str(out), str(again)])
    assert records.read_bytes() == again.read_bytes()  # the same experiment, the same bytes
    assert main(["records", "rebuild", str(records), str(tmp_path / "rebuilt")]) == 0
    for name in ("table1/report.json", "table1/report.md", "summary.json", "summary.md"):
        assert (tmp_path / "rebuilt" / name).read_bytes() == (out / name).read_bytes(), name
    assert main(["records", "rebuild", str(records), str(tmp_path / "rebuilt")]) == 2  # not into a full folder
    (tmp_path / "junk.json.gz").write_bytes(b"not gzip")
    assert main(["records", "rebuild", str(tmp_path / "junk.json.gz"), str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_real_frames_measure_every_row_at_its_operating_point(smoke, tmp_path):
    import shutil

    out, _, _ = smoke
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    frames = copy / "data" / "target-val"  # any scenes folder stands in for imported real frames here
    # the pretrained row: its cell needs no pushes (a copied folder's labels belong to the original's pushes)
    summary = run_experiment(["table1"], copy, "smoke", only=["pretrained-nms"], real_frames=frames,
                             progress=False)
    assert not summary["failed"]
    for key in ["pretrained-nms"]:
        cell = copy / "cells" / key / "seed-0"
        real = json.loads((cell / "real.json").read_text())
        val = json.loads((cell / "val.json").read_text())
        assert real["operating_point"] == val["operating_point"] and len(real["scenes"]) == 3
        # the same images as target-val at the same point: the same AP as target-val's chosen row
        assert real["metrics"]["AP"] == pytest.approx(val["val"]["AP"], abs=1e-3)
    report = (copy / "table1" / "report.md").read_text()
    assert "## Real RGB-D frames" in report
    with pytest.raises(InputError, match="--real-frames .*no such folder"):
        run_experiment(["table1"], tmp_path / "other", "smoke", only=SMOKE_ROWS, real_frames=tmp_path / "none",
                       progress=False)


@pytest.mark.slow
def test_rerun_skips_finished_cells_and_refuses_other_settings(smoke):
    out, _, _ = smoke
    test_json = out / "cells" / "selfdeepmask-small" / "seed-0" / "test.json"
    before = os.stat(test_json).st_mtime_ns
    summary = run_experiment(["table1"], out, "smoke", only=SMOKE_ROWS, progress=False)
    assert not summary["failed"] and os.stat(test_json).st_mtime_ns == before
    other = load_profile("smoke", {"finetune": {"epochs": 2, "batches_per_epoch": 4, "batch_size": 8}})
    with pytest.raises(InputError, match="another profile"):
        run_experiment(["table1"], out, other, only=SMOKE_ROWS, progress=False)


@pytest.mark.slow
def test_same_seed_same_numbers_after_an_interruption(smoke):
    out, _, _ = smoke
    cell = out / "cells" / "selfdeepmask-small" / "seed-0"
    first = json.loads((cell / "test.json").read_text())["metrics"]
    # as if the run had stopped during fine-tuning: everything after it is gone
    for f in ("model/model.pt", "val.json", "test.json", "test_results.json", "done.json"):
        (cell / f).unlink()
    summary = run_experiment(["table1"], out, "smoke", only=SMOKE_ROWS, progress=False)
    assert not summary["failed"]
    assert json.loads((cell / "test.json").read_text())["metrics"] == first


@pytest.mark.slow
def test_fig4_adds_the_interactive_curve_to_a_finished_cell(smoke):
    out, _, _ = smoke
    summary = run_experiment(["fig4"], out, "smoke", only=["pretrained-nms"], progress=False)
    assert not summary["failed"]
    inter = json.loads((out / "cells" / "pretrained-nms" / "seed-0" / "interactive.json").read_text())
    assert inter["pushes"] == [0, 1, 2] and len(inter["AP50"]) == 3
    done = json.loads((out / "cells" / "pretrained-nms" / "seed-0" / "done.json").read_text())
    assert set(done["evaluations"]) == {"test", "interactive"}
    # step 0 of the interactive test is the first piled target-test scene itself (scene 2: levels cycle)
    from pushseg.data.images import read_rgb

    a = read_rgb(out / "data" / "interactive" / "images" / "s000_p00.png")
    b = read_rgb(out / "data" / "target-test" / "images" / "000002.png")
    assert np.array_equal(a, b)
    assert (out / "fig4" / "curve.png").is_file()
    assert "after 2 pushes minus before" in (out / "fig4" / "report.md").read_text()


@pytest.mark.slow
def test_oracle_training_sets_use_the_same_images(smoke):
    from pushseg.data.coco import decode_mask
    from pushseg.pipeline import experiment_data as D

    out, _, _ = smoke
    prof, t1 = load_profile("smoke"), load_spec("table1")
    self_path, self_stats = D.training_set(out, t1.variant("selfdeepmask-large"), 0, prof)
    push_path, push_stats = D.training_set(out, t1.variant("oracle-push-large"), 0, prof)
    all_path, all_stats = D.training_set(out, t1.variant("oracle-all-large"), 0, prof)
    own, push, every = (json.loads(p.read_text()) for p in (self_path, push_path, all_path))
    key = lambda im: im["file_name"]  # noqa: E731
    assert {key(im) for im in push["images"]} <= {key(im) for im in own["images"]}
    assert {key(im) for im in every["images"]} == {key(im) for im in own["images"]}
    assert len(push["annotations"]) == len(push["images"])  # one object per push, as the self-made labels
    assert all_stats["annotations"] > push_stats["annotations"]  # every object of the same images
    # the oracle's mask is the pushed object: it overlaps the self-made label of the same push
    own_masks = {key(im): decode_mask(a["segmentation"]) for im in own["images"] for a in own["annotations"]
                 if a["image_id"] == im["id"]}
    ious = []
    for im in push["images"]:
        m = decode_mask(next(a["segmentation"] for a in push["annotations"] if a["image_id"] == im["id"]))
        s = own_masks[key(im)]
        ious.append((m & s).sum() / (m | s).sum())
    assert np.mean(ious) > 0.5 and self_stats["label_mean_iou"] > 0.5


@pytest.mark.slow
def test_episode_label_training_set_covers_the_same_pushes_with_more_masks(smoke):
    from pushseg.pipeline import experiment_data as D

    out, _, _ = smoke
    prof, t1 = load_profile("smoke"), load_spec("table1")
    D.self_labels(out, t1.variant("episode-large"), 0)
    _, one = D.training_set(out, t1.variant("selfdeepmask-large"), 0, prof)
    path, episode = D.training_set(out, t1.variant("episode-large"), 0, prof)
    assert episode["pushes"] == one["pushes"]  # push lines only, not the report's image lines
    # every image of the episodes (the last after image too), several masks on some
    assert episode["train_images"] >= one["train_images"] and episode["annotations"] > one["annotations"]
    assert episode["unlabelled_objects_per_image"] >= 0 and 0.5 < episode["label_mean_iou"] <= 1
    anns = json.loads(path.read_text())["annotations"]
    assert {"push_step", "steps_carried"} <= set(anns[0])


def test_missing_matplotlib_is_a_clear_error_before_any_work(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    assert main(["experiment", "table1", "--profile", "smoke", "--out", str(tmp_path / "o")]) == 2
    assert "pushseg[experiments]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
