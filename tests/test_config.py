"""Settings from dataclasses: generated flags with docs, YAML files, --set, errors naming the key, stage records."""

from __future__ import annotations

import argparse
import dataclasses
import typing

import pytest

from pushseg.cli.main import build_parser
from pushseg.config import (
    Section,
    add_config_args,
    dump_yaml,
    field_docs,
    flag,
    from_dict,
    load_config,
    read_yaml,
    resolve,
    to_dict,
)
from pushseg.data.collection import CollectConfig
from pushseg.data.scenes import ScenesConfig
from pushseg.envs.sim_backend import SimBackendConfig, SimConfig
from pushseg.errors import InputError, RunFolderError
from pushseg.labeling.config import LabelConfig
from pushseg.pipeline.demo import DemoConfig
from pushseg.training.config import InferenceConfig, ModelConfig, SamplerConfig, TrainConfig

ALL = (CollectConfig, ScenesConfig, LabelConfig, TrainConfig, SamplerConfig, ModelConfig, InferenceConfig, DemoConfig)


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command_parser = sub.choices[command]
    formatter = command_parser.formatter_class
    # Wide enough that no line wraps: argparse also breaks lines after hyphens ("target-" / "test").
    command_parser.formatter_class = lambda prog: formatter(prog, width=100_000)
    return " ".join(command_parser.format_help().split())


@pytest.mark.parametrize("command, classes", [
    ("label", [LabelConfig]),
    ("finetune", [TrainConfig, SamplerConfig]),
    ("pretrain", [ModelConfig, TrainConfig, SamplerConfig]),
    ("collect", [CollectConfig, SimBackendConfig]),
    ("scenes", [ScenesConfig]),
    ("demo", [DemoConfig]),
    ("evaluate", [InferenceConfig]),
])
def test_help_lists_every_field_with_its_doc(command, classes):
    text = _help(command)
    for cls in classes:
        docs = field_docs(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] is typing.Any or dataclasses.is_dataclass(hints[f.name]):
                assert docs.get(f.name), f"{cls.__name__}.{f.name} has no doc comment"
                continue  # a nested section: set in --config or with --set, no flag of its own
            words = text.split()
            assert flag(f.name) in words or flag(f.name) + "," in words, f"{command}: no flag for {f.name}"
            assert docs.get(f.name), f"{cls.__name__}.{f.name} has no doc comment"
            assert " ".join(docs[f.name].split()) in text, f"{command}: help of {f.name} is not its doc"


def test_docs_come_from_the_comments_beside_and_above_fields():
    docs = field_docs(LabelConfig)
    assert docs["seed"].startswith("seed of RANSAC")
    assert docs["use_change_cue"].startswith("A pixel also counts as moving")  # the block above
    assert "---" not in docs["method"]  # section headers are not docs


@pytest.mark.parametrize("cls", ALL + (SimConfig,))
def test_yaml_round_trip_is_exact(cls, tmp_path):
    cfg = cls()
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml({"x": cfg}))
    again = from_dict(cls, read_yaml(path)["x"], "x")
    assert to_dict(again) == to_dict(cfg)
    if cls is not SimConfig:  # SimConfig turns the object-set name into the set
        assert again == cfg


def test_unknown_keys_and_wrong_types_name_the_key(tmp_path):
    with pytest.raises(InputError, match=r"label\.flow_scal: unknown setting"):
        from_dict(LabelConfig, {"flow_scal": 0.5}, "label")
    with pytest.raises(InputError, match=r"train\.epochs: must be an integer, got 'ten'"):
        from_dict(TrainConfig, {"epochs": "ten"}, "train")
    with pytest.raises(InputError, match=r"train\.train_mask: must be true or false"):
        from_dict(TrainConfig, {"train_mask": 3}, "train")
    with pytest.raises(InputError, match=r"inference\.scales\[1\]: must be a number"):
        from_dict(InferenceConfig, {"scales": [1, "big"]}, "inference")
    with pytest.raises(InputError, match=r"sim\.jitter\.torso: must have 2 values"):
        from_dict(SimConfig, {"jitter": {"torso": [0.1]}}, "sim")
    bad = tmp_path / "bad.yaml"
    bad.write_text("label: {seed: 1}\ntrain: {epochs: 2}\n")
    assert main_rc(["label", "RUN", "--out", "x.json", "--config", str(bad)]) == 2
    assert main_rc(["label", "RUN", "--out", "x.json", "--set", "label.nope=1"]) == 2
    assert main_rc(["label", "RUN", "--out", "x.json", "--set", "labelseed"]) == 2


def main_rc(argv):
    from pushseg.cli.main import main

    return main(argv)


def _parse(argv, sections):
    p = argparse.ArgumentParser()
    add_config_args(p, sections)
    return p.parse_args(argv)


def test_resolution_order_defaults_file_flags_set(tmp_path):
    sections = [Section("train", TrainConfig, preset={"epochs": 30}, aliases={"batches_per_epoch": ["--batches"]}),
                Section("sampler", SamplerConfig)]
    f = tmp_path / "c.yaml"
    f.write_text("train: {lr: 0.01, epochs: 3, batch_size: 8}\nsampler: {flip_p: 0.0}\ninputs: {labels: x}\n")
    assert resolve(_parse([], sections))["train"].epochs == 30  # the preset beats the dataclass default
    args = _parse(["--config", str(f), "--lr", "0.02", "--batches", "7", "--no-bootstrap",
                   "--set", "train.lr=0.03", "--set", "sampler.neg_scale_range=[-1, 1]"], sections)
    got = resolve(args)
    assert got["train"].epochs == 3 and got["train"].batch_size == 8  # file
    assert got["train"].batches_per_epoch == 7 and got["train"].bootstrap is False  # flags
    assert got["train"].lr == 0.03  # --set last
    assert got["sampler"].flip_p == 0.0 and got["sampler"].neg_scale_range == (-1.0, 1.0)
    assert got["sampler"].jitter is None
    assert _parse(["--jitter", "none"], sections).__dict__["sampler.jitter"] is None


def test_load_config_one_section_with_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("sim: {width: 320, height: 180, num_objects: [2, 3], depth_noise: {base: 0.001}}\n")
    sim = load_config(SimConfig, f, "sim", ["sim.shadows=false"])
    assert (sim.width, sim.height, sim.num_objects, sim.shadows) == (320, 180, (2, 3), False)
    assert sim.depth_noise.base == 0.001 and sim.depth_noise.quad == 0.001


@pytest.mark.slow
def test_label_stage_skips_finished_work_and_refuses_other_settings(tmp_path):
    from test_label_cli import make_run

    from pushseg.pipeline.stages import label, label_record_path

    run = make_run(tmp_path / "run")
    out = label(run, tmp_path / "labels.json", LabelConfig(), progress=False)
    record = read_yaml(label_record_path(out))
    assert from_dict(LabelConfig, record["label"]) == LabelConfig()
    stamp = out.stat().st_mtime_ns
    assert label(run, out, LabelConfig(), progress=False) == out and out.stat().st_mtime_ns == stamp
    with pytest.raises(RunFolderError, match="label.ncut_sigma_px2"):
        label(run, out, LabelConfig(ncut_sigma_px2=20.0), progress=False)
    # the CLI relabels from the record and gives the same json
    before = out.read_bytes()
    assert main_rc(["label", str(run), "--out", str(out), "--config", str(label_record_path(out)),
                    "--no-progress"]) == 0
    assert out.read_bytes() == before


@pytest.mark.slow
def test_collect_again_from_its_config_yaml_gives_the_same_run(tmp_path):
    from conftest import folder_files

    first = tmp_path / "a"
    assert main_rc(["collect", "--episodes", "1", "--pushes-per-episode", "2", "--width", "160", "--height", "90",
                    "--seed", "4", "--out", str(first), "--no-progress"]) == 0
    record = read_yaml(first / "config.yaml")
    assert record["collect"]["episodes"] == 1 and record["collect"]["backend_config"]["width"] == 160
    again = tmp_path / "b"
    assert main_rc(["collect", "--config", str(first / "config.yaml"), "--out", str(again), "--no-progress"]) == 0
    assert folder_files(again) == folder_files(first)
