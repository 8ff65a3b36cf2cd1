"""pushseg: a robot learns to segment unknown objects by pushing them.

Importing the package registers the Gymnasium environment
``pushseg/TabletopPush-v0`` and nothing else; the main entry points below are
imported on first use, so ``import pushseg`` stays cheap::

    import pushseg
    env = pushseg.PushSegEnv(width=320, height=180)     # or gym.make("pushseg/TabletopPush-v0")
    agent = pushseg.make_agent("separation", env.backend.camera, seed=0)
    result = pushseg.Labeler().label_transition(transition)
    pushseg.finetune(start_model, labels_json, out_dir)  # a stage: returns out_dir/model.pt
    segmenter = pushseg.Segmenter(pushseg.load_model(path))

See README.md, "Use from Python".
"""

from __future__ import annotations

import importlib
from typing import Any

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

if "pushseg/TabletopPush-v0" not in registry:
    register(
        id="pushseg/TabletopPush-v0",
        entry_point="pushseg.envs.push_env:PushSegEnv",
        max_episode_steps=20,
    )

# name -> module that defines it
_EXPORTS = {
    # the environment and its contracts
    "PushSegEnv": "pushseg.envs.push_env",
    "SimConfig": "pushseg.envs.sim_backend",
    "Push": "pushseg.types",
    "Transition": "pushseg.types",
    "Frame": "pushseg.types",
    "CameraInfo": "pushseg.types",
    # agents
    "make_agent": "pushseg.agents",
    "SeparationPushAgent": "pushseg.agents",
    "RandomPushAgent": "pushseg.agents",
    # labels
    "Labeler": "pushseg.labeling",
    "LabelConfig": "pushseg.labeling",
    # run folders
    "RunWriter": "pushseg.data.run",
    "RunReader": "pushseg.data.run",
    "RunMeta": "pushseg.data.run",
    # the stages (configs and paths in, a path out)
    "collect": "pushseg.pipeline.stages",
    "make_scenes": "pushseg.pipeline.stages",
    "label": "pushseg.pipeline.stages",
    "pretrain": "pushseg.pipeline.stages",
    "finetune": "pushseg.pipeline.stages",
    "evaluate": "pushseg.pipeline.stages",
    "CollectConfig": "pushseg.data.collection",
    "ScenesConfig": "pushseg.data.scenes",
    "TrainConfig": "pushseg.training.config",
    "SamplerConfig": "pushseg.training.config",
    "InferenceConfig": "pushseg.training.config",
    # models
    "load_model": "pushseg.training.checkpoint",
    "Segmenter": "pushseg.training.inference",
    "evaluate_model": "pushseg.evaluation.coco_eval",
    # settings
    "load_config": "pushseg.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pushseg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
