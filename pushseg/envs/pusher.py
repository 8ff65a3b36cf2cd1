"""The simulated end effector: a finger the size of a PR2's closed gripper tips.

Why not ``pr2_gripper.urdf``: its fingers are jointed and open under contact
unless they are servoed, and its pole sticks out sideways; a closed PR2
gripper pushing with its tips touches an object with a ~2 cm wide, rounded
front. A vertical cylinder of that width gives the same single contact, is
cheap to simulate, and never shows in an image (it is taken out of the
world after each push, having gone up; no image is taken while it exists).

The finger is a dynamic body held by a fixed constraint whose target moves
along the path; objects therefore feel a bounded force, as from a compliant
arm, instead of being teleported through.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb


class Pusher:
    """Moves a finger tip (the tool point, 1 cm above its lower end) along straight lines."""

    def __init__(
        self,
        client: int,
        step,
        *,
        radius: float = 0.01,
        length: float = 0.10,
        speed: float = 0.10,
        time_step: float = 1.0 / 240.0,
        max_force: float = 60.0,
    ) -> None:
        self.client = client
        self._step = step  # callable advancing the simulation by one step
        self.speed = speed
        self.time_step = time_step
        self.max_force = max_force
        self._offset = np.array([0.0, 0.0, length / 2 - 0.01])  # tool point -> body centre
        self._shapes = (
            pb.createCollisionShape(pb.GEOM_CYLINDER, radius=radius, height=length, physicsClientId=client),
            pb.createVisualShape(
                pb.GEOM_CYLINDER, radius=radius, length=length, rgbaColor=[0.2, 0.2, 0.2, 1], physicsClientId=client
            ),
        )
        # The finger only exists while it pushes: a parked, constrained body
        # would cost about a third of every physics step for nothing.
        self.body: int | None = None
        self.constraint: int | None = None
        self._tool = np.zeros(3)

    def _appear(self, tool: np.ndarray) -> None:
        centre = (tool + self._offset).tolist()
        self.body = pb.createMultiBody(0.5, *self._shapes, centre, physicsClientId=self.client)
        pb.changeDynamics(self.body, -1, lateralFriction=0.3, physicsClientId=self.client)
        self.constraint = pb.createConstraint(
            self.body, -1, -1, -1, pb.JOINT_FIXED, [0, 0, 0], [0, 0, 0], centre, physicsClientId=self.client
        )
        pb.changeConstraint(self.constraint, centre, maxForce=self.max_force, physicsClientId=self.client)
        self._tool = np.asarray(tool, dtype=np.float64)

    def _leave(self) -> None:
        pb.removeConstraint(self.constraint, physicsClientId=self.client)
        pb.removeBody(self.body, physicsClientId=self.client)
        self.body = self.constraint = None

    def move_to(self, tool: np.ndarray, speed: float | None = None) -> None:
        """Drive the tool point in a straight line to ``tool`` at ``speed`` m/s."""
        tool = np.asarray(tool, dtype=np.float64)
        dist = float(np.linalg.norm(tool - self._tool))
        n = max(1, int(np.ceil(dist / ((speed or self.speed) * self.time_step))))
        targets = self._tool + (tool - self._tool) * (np.arange(1, n + 1) / n)[:, None] + self._offset
        for target in targets.tolist():
            pb.changeConstraint(self.constraint, target, maxForce=self.max_force, physicsClientId=self.client)
            self._step()
        self._tool = tool

    def follow(self, waypoints: np.ndarray, clearance_z: float) -> None:
        """Come down to the first waypoint from ``clearance_z``, follow the rest, go back up and
        vanish (as if the arm left the camera's view)."""
        first = waypoints[0]
        self._appear(np.array([first[0], first[1], clearance_z]))
        self.move_to(first, speed=3 * self.speed)
        for w in waypoints[1:]:
            self.move_to(w)
        last = waypoints[-1]
        self.move_to(np.array([last[0], last[1], clearance_z]), speed=3 * self.speed)
        self._leave()
