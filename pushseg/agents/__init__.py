"""Push policies that act on observations only (RGB-D + camera), so they run on the real robot too.

Common interface: ``agent = SomeAgent(camera, seed=...)``; ``push = agent.act(obs_or_frame)``.
"""

from pushseg.agents.labeling import LabelingPushAgent
from pushseg.agents.random_agent import RandomPushAgent
from pushseg.agents.separation import SeparationPushAgent
from pushseg.errors import InputError

AGENTS = {"random": RandomPushAgent, "separation": SeparationPushAgent, "labelling": LabelingPushAgent}


def make_agent(name: str, camera, seed: int | None = None, workspace=None):
    """An agent by name ('random', 'separation' or 'labelling').

    ``workspace``: where the arm can push (a ``pushseg.workspace.Workspace``,
    e.g. ``backend.workspace``); None takes the default, which the simulation uses.
    """

    try:
        cls = AGENTS[name]
    except KeyError:
        raise InputError(f"unknown agent {name!r}: choose one of {', '.join(sorted(AGENTS))}") from None
    return cls(camera, seed=seed, workspace=workspace)


__all__ = ["AGENTS", "LabelingPushAgent", "RandomPushAgent", "SeparationPushAgent", "make_agent"]
