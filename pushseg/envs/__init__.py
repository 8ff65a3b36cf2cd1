"""Where the robot pushes: the simulated tabletop and the Gymnasium environment around a backend."""

from pushseg.envs.objects import OBJECT_SETS, ObjectSet, ObjectSpec, object_set
from pushseg.envs.push_env import PushSegEnv
from pushseg.envs.sim_backend import SceneObject, SimBackend, SimConfig
from pushseg.envs.world import PROFILES, Nuisances, WorldProfile, world_profile
from pushseg.workspace import Workspace, check_push

__all__ = [
    "OBJECT_SETS",
    "ObjectSet",
    "ObjectSpec",
    "object_set",
    "PushSegEnv",
    "SceneObject",
    "SimBackend",
    "SimConfig",
    "Workspace",
    "check_push",
    "PROFILES",
    "Nuisances",
    "WorldProfile",
    "world_profile",
]
