"""Each backend's own settings: a typed dataclass of the settings system, registered with its backend.

A wrong type or an unknown key is a one-line error naming the key, whether it
comes from Python, a file, ``--config`` or ``--set``; ``pushseg collect``
takes the chosen backend's section and refuses the other's.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from pushseg import backends
from pushseg.backends import BackendConfig
from pushseg.cli.collect import collect_config
from pushseg.cli.main import build_parser
from pushseg.config import from_dict, load_config, to_dict
from pushseg.data.collection import CollectConfig
from pushseg.envs.sim_backend import SimBackendConfig
from pushseg.errors import InputError
from pushseg.real.config import DEFAULTS_FILE, RealBackendConfig
from pushseg.real.config import load_config as load_real


def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text, text
    return text


def test_each_builtin_backend_has_its_config_class():
    assert backends.config_class("sim") is SimBackendConfig
    assert backends.config_class("real") is RealBackendConfig
    for cls in (SimBackendConfig, RealBackendConfig):
        assert isinstance(cls(), BackendConfig)
    assert SimBackendConfig.replayable and not RealBackendConfig.replayable


def test_the_real_defaults_are_pr2_defaults_yaml():
    assert to_dict(RealBackendConfig()) == yaml.safe_load(DEFAULTS_FILE.read_text())


@pytest.mark.parametrize("cls, section, data, match", [
    (SimBackendConfig, "sim", {"width": "wide"}, r"^sim\.width: must be an integer, got 'wide'$"),
    (SimBackendConfig, "sim", {"world": 3}, r"^sim\.world: must be a string, got 3$"),
    (SimBackendConfig, "sim", {"colour": "red"}, r"^sim\.colour: unknown setting; SimBackendConfig has objects, "),
    (RealBackendConfig, "real", {"safety": {"max_push_speed": "fast"}},
     r"^real\.safety\.max_push_speed: must be a number, got 'fast'$"),
    (RealBackendConfig, "real", {"safety": {"dry_run": "maybe"}}, r"^real\.safety\.dry_run: must be true or false"),
    (RealBackendConfig, "real", {"safety": {"table": {"x": [0.3]}}}, r"^real\.safety\.table\.x: must have 2 values"),
    (RealBackendConfig, "real", {"arms": {"use": {"r": 1}}}, r"^real\.arms\.use: must be a list"),
    (RealBackendConfig, "real", {"arms": {"ik_rest": {"l": [0, "x"]}}}, r"^real\.arms\.ik_rest\.l\[1\]: must be a number"),
    (RealBackendConfig, "real", {"safety": {"colour": 1}}, r"^real\.safety\.colour: unknown setting; SafetyConfig has "),
    (RealBackendConfig, "real", {"topic": {}}, r"^real\.topic: unknown setting; RealBackendConfig has topics, "),
    (RealBackendConfig, "real", {"timeouts": 5}, r"^real\.timeouts: must be a mapping of TimeoutsConfig fields"),
])
def test_wrong_types_and_unknown_keys_name_the_key(cls, section, data, match):
    with pytest.raises(InputError) as excinfo:
        from_dict(cls, data, section)
    assert _one_line(excinfo)
    with pytest.raises(InputError, match=match):
        from_dict(cls, data, section)


def test_values_are_checked_with_the_key_too():
    with pytest.raises(InputError, match=r"^--width/--height: 8x540 pixels is too small; give an image at least 32 pixels a side"):
        SimBackendConfig(width=8)
    with pytest.raises(InputError, match=r"^unknown object set 'kitchen'"):
        SimBackendConfig(objects="kitchen")
    with pytest.raises(InputError, match=r"push\.speed: 0\.5 m/s exceeds safety\.max_push_speed") as excinfo:
        load_real(overrides={"push": {"speed": 0.5}})
    assert _one_line(excinfo)


def test_real_user_files_are_partial_and_typed(tmp_path):
    f = tmp_path / "my_pr2.yaml"
    f.write_text("safety:\n  table:\n    x: [0.2, 1.2]\n  max_push_speed: 0.08\n")
    c = load_real(f)
    assert c.safety.table.x == (0.2, 1.2) and c.safety.table.y == (-0.8, 0.8)
    assert c.safety.max_push_speed == 0.08 and c.safety.workspace == RealBackendConfig().safety.workspace
    assert c.with_overrides({"safety": {"dry_run": True}}).safety == dataclasses.replace(c.safety, dry_run=True)
    f.write_text("safety:\n  max_push_speed: fast\n")
    with pytest.raises(InputError, match=r"^real\.safety\.max_push_speed: must be a number, got 'fast'$"):
        load_real(f)


def test_nested_keys_through_the_settings_system(tmp_path):
    f = tmp_path / "settings.yaml"
    f.write_text("real:\n  safety:\n    max_push_speed: 0.08\n")
    c = load_config(RealBackendConfig, f, "real", ["real.safety.dry_run=true", "real.push.table_z=0.72"])
    assert c.safety.max_push_speed == 0.08 and c.safety.dry_run and c.push.table_z == 0.72
    assert load_config(RealBackendConfig, f, "real", ["real.push.table_z=null"]).push.table_z is None
    with pytest.raises(InputError, match=r"^real\.safety\.max_push_sped: unknown setting"):
        load_config(RealBackendConfig, f, "real", ["real.safety.max_push_sped=0.1"])


def _args(*argv: str):
    return build_parser().parse_args(["collect", "--out", "unused", *argv])


def test_collect_takes_the_chosen_backends_section(tmp_path):
    f = tmp_path / "my_pr2.yaml"
    f.write_text("safety:\n  max_push_length: 0.1\n  max_push_speed: 0.09\n")
    c = collect_config(_args("--backend", "real", "--real-config", str(f), "--dry-run",
                             "--set", "real.safety.max_push_speed=0.05"))
    assert isinstance(c.backend_config, RealBackendConfig)
    s = c.backend_config.safety
    assert s.dry_run and s.max_push_length == 0.1 and s.max_push_speed == 0.05  # --set wins over the file
    sim = collect_config(_args("--width", "320", "--set", "sim.world=harsh"))
    assert sim.backend_config == SimBackendConfig(width=320, world="harsh")
    # The resolved record (a run's config.yaml) given back with --config gives the same config.
    record = tmp_path / "config.yaml"
    record.write_text(yaml.safe_dump({"collect": c.to_dict()}))
    assert collect_config(_args("--config", str(record))) == c
    assert collect_config(_args("--config", str(record), "--set", "real.node_name=other")).backend_config.node_name \
        == "other"


@pytest.mark.parametrize("argv, match", [
    (["--dry-run"], r"^--dry-run is for --backend real only, not --backend sim$"),
    (["--set", "real.safety.dry_run=true"], r"^real\.safety\.dry_run is for --backend real only"),
    (["--backend", "real", "--world", "harsh"], r"^--world is for --backend sim only, not --backend real$"),
    (["--backend", "real", "--set", "real.safety.velocity_scale=x"], r"^real\.safety\.velocity_scale: must be a number"),
    (["--set", "sim.height=tall"], r"^sim\.height: must be an integer, got 'tall'$"),
])
def test_collect_errors_name_the_key(argv, match):
    with pytest.raises(InputError) as excinfo:
        collect_config(_args(*argv))
    assert _one_line(excinfo)
    with pytest.raises(InputError, match=match):
        collect_config(_args(*argv))


def test_collect_config_holds_only_the_backends_settings():
    assert [f.name for f in dataclasses.fields(CollectConfig)] == [
        "episodes", "pushes_per_episode", "seed", "backend", "agent", "backend_config"]
    assert CollectConfig().backend_config == SimBackendConfig()
    assert CollectConfig(backend="real").backend_config == RealBackendConfig()
    assert CollectConfig(backend_config={"width": 320}).backend_config == SimBackendConfig(width=320)
    with pytest.raises(InputError, match="'real' takes its settings as a RealBackendConfig"):
        CollectConfig(backend="real", backend_config=SimBackendConfig())
    again = from_dict(CollectConfig, CollectConfig(backend="real").to_dict(), "collect")
    assert again == CollectConfig(backend="real")
