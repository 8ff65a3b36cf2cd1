"""Forward and inverse kinematics of any arm, from its URDF, with PyBullet.

A generic ROS 2 arm brings its URDF (a file or the ``/robot_description``
topic), so limits, FK and IK come from it rather than from hand-written
chains. Each :class:`UrdfArm` has its own PyBullet DIRECT client (no GUI, no
simulation stepping) and loads the URDF without its ``<visual>`` and
``<collision>`` elements, so mesh files (``package://`` paths) need not exist
on this machine. Joint limits are read from the URDF text itself; a joint
without position limits is refused (a push needs them to be checked).

Poses are in ``base_frame``, which may be any link of the URDF. Only the
configured ``joints`` move; any other movable joint (a gripper's fingers)
stays at 0 clamped into its limits.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pybullet

from pushseg.errors import InputError

POSITION_TOLERANCE = 0.002  # m an IK solution may miss the target by
ORIENTATION_TOLERANCE_DEG = 2.0  # degrees an IK solution may miss the target's orientation by


class PushRefused(Exception):
    """A push (or a move) that is not carried out, and why: ``code`` for logs, ``message`` for the user."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _pose_matrix(pos, orn) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = np.array(pybullet.getMatrixFromQuaternion(orn)).reshape(3, 3)
    T[:3, 3] = pos
    return T


def _quaternion(R: np.ndarray) -> tuple[float, float, float, float]:
    from pushseg.geometry import matrix_quaternion

    return matrix_quaternion(R)


def _strip_geometry(xml_text: str) -> str:
    """The URDF without <visual>/<collision> (no meshes needed); raises InputError when it is no URDF."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as e:
        raise InputError(f"the robot description is not valid XML: {e}") from None
    if root.tag != "robot":
        raise InputError(f"the robot description is not a URDF: its root element is <{root.tag}>, not <robot>")
    for link in root.iter("link"):
        for child in list(link):
            if child.tag in ("visual", "collision"):
                link.remove(child)
    return ET.tostring(root, encoding="unicode")


def _joint_limits(xml_text: str) -> dict[str, tuple[str, float | None, float | None, float | None]]:
    """name -> (type, lower, upper, velocity) as written in the URDF (None where absent)."""
    out = {}
    for joint in ET.fromstring(xml_text).iter("joint"):
        limit = joint.find("limit")

        def value(key: str) -> float | None:
            if limit is None or limit.get(key) is None:
                return None
            return float(limit.get(key))

        out[joint.get("name")] = (joint.get("type", ""), value("lower"), value("upper"), value("velocity"))
    return out


class UrdfArm:
    """One arm's chain of a URDF: ``joints`` (in this order) from ``base_frame`` to ``tool_frame``."""

    def __init__(self, xml_text: str, joints: Sequence[str], base_frame: str, tool_frame: str, source: str = "URDF"):
        xml_text = _strip_geometry(xml_text)
        self.source = source
        self._client = pybullet.connect(pybullet.DIRECT)
        try:
            with tempfile.TemporaryDirectory(prefix="pushseg_urdf_") as tmp:
                path = os.path.join(tmp, "robot.urdf")
                Path(path).write_text(xml_text)
                try:
                    self._body = pybullet.loadURDF(path, useFixedBase=True, physicsClientId=self._client)
                except pybullet.error as e:
                    raise InputError(f"{source}: PyBullet could not load the URDF ({e})") from None
            self._setup(xml_text, tuple(joints), base_frame, tool_frame)
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_file(cls, path: str | Path, joints: Sequence[str], base_frame: str, tool_frame: str) -> UrdfArm:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"URDF file {p} does not exist: give the robot's URDF (xacro output), or '' to read it "
                             "from the robot description topic")
        return cls(p.read_text(), joints, base_frame, tool_frame, source=f"URDF {p}")

    @classmethod
    def from_xml(cls, xml_text: str, joints: Sequence[str], base_frame: str, tool_frame: str) -> UrdfArm:
        return cls(xml_text, joints, base_frame, tool_frame, source="robot description")

    # --- set-up ---

    def _setup(self, xml_text: str, joints: tuple[str, ...], base_frame: str, tool_frame: str) -> None:
        c, b = self._client, self._body
        root = pybullet.getBodyInfo(b, physicsClientId=c)[0].decode()
        self._link_index = {root: -1}
        self._joint_index: dict[str, int] = {}
        self._movable: list[int] = []  # PyBullet joint indices with a DOF, in PyBullet's order
        for i in range(pybullet.getNumJoints(b, physicsClientId=c)):
            info = pybullet.getJointInfo(b, i, physicsClientId=c)
            self._joint_index[info[1].decode()] = i
            self._link_index[info[12].decode()] = i
            if info[2] != pybullet.JOINT_FIXED:
                self._movable.append(i)
        self.links = tuple(self._link_index)
        all_joints = ", ".join(self._joint_index) or "none"
        for name in joints:
            if name not in self._joint_index:
                raise InputError(f"{self.source} has no joint '{name}'; its joints: {all_joints}")
        for kind, name in (("base_frame", base_frame), ("tool_frame", tool_frame)):
            if name not in self._link_index:
                raise InputError(f"{self.source} has no link '{name}' ({kind}); its links: {', '.join(self.links)}")
        if not joints:
            raise InputError(f"{self.source}: no joints given for the arm")
        limits = _joint_limits(xml_text)
        lower, upper, velocity = [], [], []
        for name in joints:
            kind, lo, hi, vel = limits[name]
            if kind not in ("revolute", "prismatic"):
                raise InputError(f"{self.source}: joint '{name}' is {kind or 'of no type'}, not revolute or prismatic "
                                 "with position limits; pushseg needs limits to check every planned point")
            if lo is None or hi is None or not lo < hi:
                raise InputError(f"{self.source}: joint '{name}' has no position limits (<limit lower= upper=>) "
                                 "with lower < upper")
            if vel is None or not vel > 0:
                raise InputError(f"{self.source}: joint '{name}' has no positive velocity limit (<limit velocity=>)")
            lower.append(lo)
            upper.append(hi)
            velocity.append(vel)
        self.joint_names = joints
        self.base_frame = base_frame
        self.tool_frame = tool_frame
        self.lower = np.array(lower)
        self.upper = np.array(upper)
        self.velocity = np.array(velocity)
        self._arm_idx = [self._joint_index[n] for n in joints]
        for i in self._arm_idx:
            if i not in self._movable:
                raise InputError(f"{self.source}: joint '{pybullet.getJointInfo(b, i, physicsClientId=c)[1].decode()}'"
                                 " is fixed")
        # Every movable joint's value; the ones not in the arm stay here.
        self._all_lower, self._all_upper = [], []
        self._others = np.zeros(len(self._movable))
        for k, i in enumerate(self._movable):
            info = pybullet.getJointInfo(b, i, physicsClientId=c)
            lo, hi = float(info[8]), float(info[9])
            if not lo < hi:  # PyBullet's "no limit"
                lo, hi = -2 * np.pi, 2 * np.pi
            self._all_lower.append(lo)
            self._all_upper.append(hi)
            self._others[k] = min(max(0.0, lo), hi)
        self._dof_of = {i: k for k, i in enumerate(self._movable)}
        self._arm_dofs = [self._dof_of[i] for i in self._arm_idx]
        inertial = pybullet.getDynamicsInfo(b, -1, physicsClientId=c)
        self._T_com_root = np.linalg.inv(_pose_matrix(inertial[3], inertial[4]))
        self._set(np.clip(np.zeros(len(joints)), self.lower, self.upper))

    # --- helpers ---

    def _q(self, q) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.shape != (len(self.joint_names),):
            raise InputError(f"expected {len(self.joint_names)} joint values ({', '.join(self.joint_names)}), "
                             f"got {q.shape[0]}")
        return q

    def _set(self, q: np.ndarray) -> None:
        for i, v in zip(self._arm_idx, q):
            pybullet.resetJointState(self._body, i, float(v), physicsClientId=self._client)
        for k, i in enumerate(self._movable):
            if k not in self._arm_dofs:
                pybullet.resetJointState(self._body, i, float(self._others[k]), physicsClientId=self._client)

    def _world(self, link: str) -> np.ndarray:
        """T_world_link at the joint values last set."""
        i = self._link_index[link]
        if i < 0:
            pos, orn = pybullet.getBasePositionAndOrientation(self._body, physicsClientId=self._client)
            return _pose_matrix(pos, orn) @ self._T_com_root
        s = pybullet.getLinkState(self._body, i, computeForwardKinematics=True, physicsClientId=self._client)
        return _pose_matrix(s[4], s[5])

    def _check_link(self, link: str) -> None:
        if link not in self._link_index:
            raise InputError(f"{self.source} has no link '{link}'; its links: {', '.join(self.links)}")

    # --- the API ---

    def fk(self, q, link: str | None = None) -> np.ndarray:
        """T_base_link (4x4) at joint values ``q``; ``link`` None: the tool frame."""
        link = self.tool_frame if link is None else link
        self._check_link(link)
        self._set(self._q(q))
        return np.linalg.solve(self._world(self.base_frame), self._world(link))

    def fk_links(self, q, links: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """T_base_link of several links (default: all) at ``q``, with one setting of the joints."""
        links = self.links if links is None else links
        for link in links:
            self._check_link(link)
        self._set(self._q(q))
        inv = np.linalg.inv(self._world(self.base_frame))
        return {link: inv @ self._world(link) for link in links}

    def _error(self, q: np.ndarray, position: np.ndarray, rotation: np.ndarray) -> tuple[float, float]:
        T = self.fk(q)
        dp = float(np.linalg.norm(T[:3, 3] - position))
        cos = (np.trace(rotation.T @ T[:3, :3]) - 1.0) / 2.0
        return dp, float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))

    def _refine(self, q: np.ndarray, position: np.ndarray, rotation: np.ndarray, rest: np.ndarray,
                iterations: int = 30) -> np.ndarray:
        """Damped least squares on position and orientation (numeric Jacobian), clamped to the limits."""
        eps = 1e-6
        for _ in range(iterations):
            T = self.fk(q)
            err = np.concatenate([position - T[:3, 3], 0.5 * (np.cross(T[:3, 0], rotation[:, 0])
                                                             + np.cross(T[:3, 1], rotation[:, 1])
                                                             + np.cross(T[:3, 2], rotation[:, 2]))])
            if np.linalg.norm(err[:3]) < 1e-5 and np.linalg.norm(err[3:]) < 1e-4:
                break
            J = np.zeros((6, len(q)))
            for j in range(len(q)):
                dq = q.copy()
                dq[j] += eps
                Tj = self.fk(dq)
                J[:3, j] = (Tj[:3, 3] - T[:3, 3]) / eps
                dR = Tj[:3, :3] @ T[:3, :3].T
                J[3:, j] = np.array([dR[2, 1] - dR[1, 2], dR[0, 2] - dR[2, 0], dR[1, 0] - dR[0, 1]]) / (2 * eps)
            lam = 1e-3
            JJt = J @ J.T + lam * np.eye(6)
            step = J.T @ np.linalg.solve(JJt, err)
            null = np.eye(len(q)) - J.T @ np.linalg.solve(JJt, J)
            step += 0.1 * null @ (rest - q)
            q = np.clip(q + step, self.lower, self.upper)
        return q

    def ik(self, position, rotation_3x3, rest, seed=None) -> np.ndarray:
        """Joint values putting the tool frame at ``position`` with ``rotation_3x3`` (in base_frame).

        PyBullet's IK with the joint limits and ``rest`` as its null-space posture,
        started from ``seed`` (default ``rest``), iterated and refined by damped
        least squares; the answer is checked by FK (2 mm, 2 degrees) and against
        the limits. Raises :class:`PushRefused` ("unreachable") otherwise.
        """
        position = np.asarray(position, dtype=np.float64).reshape(3)
        rotation = np.asarray(rotation_3x3, dtype=np.float64).reshape(3, 3)
        rest = np.clip(self._q(rest), self.lower, self.upper)
        q = np.clip(self._q(seed) if seed is not None else rest.copy(), self.lower, self.upper)
        all_rest = self._others.copy()
        all_rest[self._arm_dofs] = rest
        lower, upper = list(self._all_lower), list(self._all_upper)
        for k, d in enumerate(self._arm_dofs):
            lower[d], upper[d] = float(self.lower[k]), float(self.upper[k])
        ranges = [hi - lo for lo, hi in zip(lower, upper)]
        tool = self._link_index[self.tool_frame]
        best, best_err = q, (np.inf, np.inf)
        for _ in range(4):
            self._set(q)
            if tool >= 0:
                T_world = self._world(self.base_frame) @ np.block([[rotation, position[:, None]], [0, 0, 0, 1]])
                sol = pybullet.calculateInverseKinematics(
                    self._body, tool, T_world[:3, 3].tolist(), list(_quaternion(T_world[:3, :3])),
                    lowerLimits=lower, upperLimits=upper, jointRanges=ranges, restPoses=all_rest.tolist(),
                    maxNumIterations=100, residualThreshold=1e-5, physicsClientId=self._client)
                q = np.clip(np.array(sol)[self._arm_dofs], self.lower, self.upper)
            q = self._refine(q, position, rotation, rest)
            err = self._error(q, position, rotation)
            if err[0] < best_err[0] or (err[0] <= POSITION_TOLERANCE and err[1] < best_err[1]):
                best, best_err = q, err
            if best_err[0] <= POSITION_TOLERANCE * 0.25 and best_err[1] <= ORIENTATION_TOLERANCE_DEG * 0.25:
                break
        dp, da = best_err
        if dp > POSITION_TOLERANCE or da > ORIENTATION_TOLERANCE_DEG or self.limit_violations(best, 0.0):
            raise PushRefused(
                "unreachable",
                f"the tool frame {self.tool_frame} cannot reach ({position[0]:.3f}, {position[1]:.3f}, "
                f"{position[2]:.3f}) m in {self.base_frame} with the orientation asked for inside the joint limits "
                f"(best: {dp * 1000:.1f} mm, {da:.1f} deg off)")
        return best

    def limit_violations(self, q, margin: float = 0.0) -> list[str]:
        """One line per joint of ``q`` outside [lower + margin, upper - margin]; empty when none."""
        q = self._q(q)
        out = []
        for name, v, lo, hi in zip(self.joint_names, q, self.lower, self.upper):
            if not (lo + margin <= v <= hi - margin) or not np.isfinite(v):
                out.append(f"{name} = {v:.4f} outside its limits [{lo:.4f}, {hi:.4f}]"
                           + (f" less a margin of {margin:g}" if margin else ""))
        return out

    def close(self) -> None:
        if getattr(self, "_client", None) is not None:
            try:
                pybullet.disconnect(physicsClientId=self._client)
            except pybullet.error:
                pass
            self._client = None

    def __enter__(self) -> UrdfArm:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def panda_urdf() -> Path:
    """The Franka Panda URDF that ships with pybullet_data."""
    import pybullet_data

    return Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"
