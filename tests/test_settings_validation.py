"""One validator for every setting: the same ranges through flags, config files, --set and the API.

The flags of every command are covered case by case in the bad-input catalogue
(tests/bad_settings.py, run by tests/test_fault_inputs.py); here the other ways in.
"""

from __future__ import annotations

import pytest
from conftest import run_pushseg

from pushseg.config import from_dict
from pushseg.errors import InputError
from pushseg.experiments.specs import load_profile
from pushseg.labeling.config import LabelConfig
from pushseg.limits import MIN_IMAGE_SIDE, check_image_side
from pushseg.training.config import TrainConfig


def _last_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


@pytest.mark.parametrize("text, said", [
    (".nan", "must be a finite number"), (".inf", "must be a finite number"), ("-1", "must be in [0, "),
    ("1e308", "must be in [0, "), ("'abc'", "must be a number"),
])
def test_a_config_file_value_out_of_range_is_refused_naming_the_setting(tmp_path, capsys, text, said):
    config = tmp_path / "c.yaml"
    config.write_text(f"label: {{min_area_px: {text}}}\n")
    assert run_pushseg("label", tmp_path / "no-run", "--out", tmp_path / "l.json", "--config", config) == 2
    line = _last_line(capsys)
    assert said in line and "min_area_px" in line, line


@pytest.mark.parametrize("item, said", [
    ("label.seed=-1", "--seed must be in [0, 2**63 - 1], got -1"),
    (f"label.seed={2**64}", "--seed must be in [0, 2**63 - 1]"),
    ("label.ransac_iterations=0", "--ransac-iterations must be in [1, "),
    ("label.flow=", "--flow must not be empty"),
    ("label.ncut_thresh=nan", "--ncut-thresh must be a finite number"),
])
def test_a_set_value_out_of_range_is_refused_naming_the_setting(tmp_path, capsys, item, said):
    assert run_pushseg("label", tmp_path / "no-run", "--out", tmp_path / "l.json", "--set", item) == 2
    line = _last_line(capsys)
    assert said in line and f"label.{item.split('=')[0].split('.')[1]}" in line, line


@pytest.mark.parametrize("item, said", [
    ("profile.test_scenes=-3", "profile.test_scenes must be in [1, 100000], got -3"),
    ("profile.finetune.epochs=0", "profile.finetune.epochs must be in [1, 10000], got 0"),
    ("profile.nms_grid=[0.3,.nan]", "profile.nms_grid must be a finite number"),
    ("profile.width=abc", "profile.width: must be an integer"),
])
def test_an_experiment_setting_out_of_range_is_refused_before_any_cell(tmp_path, capsys, item, said):
    assert run_pushseg("experiment", "table1", "--out", tmp_path / "x", "--set", item, "--no-progress") == 2
    assert said in _last_line(capsys)
    assert not (tmp_path / "x").exists()


def test_the_experiment_refuses_no_seeds(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        run_pushseg("experiment", "table1", "--out", tmp_path / "x", "--seeds", "0")
    assert e.value.code == 2 and "--seeds: must be in [1, 1000], got 0" in _last_line(capsys)


def test_python_callers_get_the_same_checks():
    with pytest.raises(InputError, match=r"--lr must be in \(0, 10\], got -0.1 \(the setting train.lr\)"):
        from_dict(TrainConfig, {"lr": -0.1}, "train")
    with pytest.raises(InputError, match=r"^label.nested.min_area_px must be a finite number, got inf$"):
        from_dict(LabelConfig, {"min_area_px": float("inf")}, "label.nested")  # no flag: the key alone
    assert from_dict(LabelConfig, {"min_area_px": 0.0}, "label").min_area_px == 0.0  # the bound itself is fine


def test_one_minimum_image_side_and_one_wording():
    with pytest.raises(InputError, match=f"at least {MIN_IMAGE_SIDE} pixels a side"):
        check_image_side(64, MIN_IMAGE_SIDE - 1, "image")
    check_image_side(MIN_IMAGE_SIDE, MIN_IMAGE_SIDE, "image")
    for profile in ("quick",):  # the shipped profiles pass their own checks
        load_profile(profile)
