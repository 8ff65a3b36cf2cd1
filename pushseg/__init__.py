"""pushseg: a robot learns to segment unknown objects by pushing them.

Importing the package registers the Gymnasium environment
``pushseg/TabletopPush-v0``.
"""

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

if "pushseg/TabletopPush-v0" not in registry:
    register(
        id="pushseg/TabletopPush-v0",
        entry_point="pushseg.envs.push_env:PushSegEnv",
        max_episode_steps=20,
    )
