"""Clutter levels of a simulated tabletop, and what each scene's clutter measures.

The paper's test scenes hold six to eight objects "with various levels of clutter".
A level says how objects are put down (``SimBackend._place``), each standing for a
way a table looks:

* ``separated``: objects apart, at least ``SEPARATED_GAP_M`` between their
  collision shapes: a tidy table, where segmentation is easiest.
* ``touching``: every object after the first slid against one already down:
  things pushed together, side by side on the table.
* ``piled``: touching as above, and every third object put down on top of
  the group, so that after the physics settles it rests on or leans against
  others: a heap, with partial occlusion.

``None`` keeps the mixed placement of every other scene set (a chance
``SimConfig.clutter`` that an object touches one already down).

:func:`clutter_stats` measures a settled scene: contacts between objects,
objects held up by others, and how much of each object others hide from the
camera (its silhouette rendered alone against what the scene's image shows).
Keys: ``objects``, ``contacts`` (pairs of objects closer than ``CONTACT_M``),
``touching_share`` (share of objects touching another), ``supported`` (objects
of which others carry at least ``SUPPORT_SHARE`` of the weight, through the
upward part of the contact forces: resting on or leaning against them),
``lifted`` (objects whose lowest point is ``LIFTED_M`` above the table top:
lying on others), ``leaning`` (supported but still on the table: tilted
against another), ``mean_occlusion`` / ``max_occlusion`` (over the objects in
view: the share of an object's silhouette that others hide).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pybullet as pb

from pushseg.errors import InputError

LEVELS = ("separated", "touching", "piled")
SEPARATED_GAP_M = 0.03  # between collision shapes: no contact, little occlusion from a head camera
CONTACT_M = 0.005  # closer than this counts as touching (a placement slides to within 2 mm; settling shifts a little)
SUPPORT_SHARE = 0.1  # others carrying this share of an object's weight support it (on or against them)
LIFTED_M = 0.01  # an object whose lowest point is this far above the table top lies on others
GRAVITY = 9.81
PILE_EVERY = 3  # piled: every third object goes on top of the group


def check_level(level: str | None, where: str = "SimConfig.clutter_level") -> None:
    if level is not None and level not in LEVELS:
        raise InputError(f"{where} must be one of {', '.join(LEVELS)} (or left out for mixed placement), "
                         f"got {level!r}")


def _matrix(m) -> np.ndarray:
    return np.asarray(m, dtype=np.float64).reshape(4, 4).T  # PyBullet's matrices are column-major


def screen_box(view, proj, width: int, height: int, lo, hi, pad: int = 2) -> tuple[int, int, int, int] | None:
    """The pixel box (u0, v0, u1, v1), inclusive, that holds the axis-aligned box ``lo``..``hi`` as the
    camera (OpenGL ``view``/``proj`` as PyBullet takes them) sees it; None when it is out of the image."""
    corners = np.array([[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    clip = corners @ (_matrix(proj) @ _matrix(view)).T
    if np.any(clip[:, 3] <= 1e-6):  # a corner behind the camera: the whole image
        return 0, 0, width - 1, height - 1
    ndc = clip[:, :2] / clip[:, 3:4]
    u = (ndc[:, 0] + 1.0) * width / 2.0
    v = height - 1 - (ndc[:, 1] + 1.0) * height / 2.0
    u0, u1 = int(np.floor(u.min())) - pad, int(np.ceil(u.max())) + pad
    v0, v1 = int(np.floor(v.min())) - pad, int(np.ceil(v.max())) + pad
    if u1 < 0 or v1 < 0 or u0 >= width or v0 >= height:
        return None
    return max(u0, 0), max(v0, 0), min(u1, width - 1), min(v1, height - 1)


def apart_groups(boxes: dict[int, tuple[int, int, int, int]]) -> list[list[int]]:
    """Split objects into groups whose pixel boxes do not overlap (greedily, in id order): objects of one
    group cannot hide each other, so one image of a group alone shows each member's whole silhouette."""
    groups: list[list[int]] = []
    for i in sorted(boxes):
        a = boxes[i]
        for g in groups:
            if all(a[2] < boxes[j][0] or boxes[j][2] < a[0] or a[3] < boxes[j][1] or boxes[j][3] < a[1] for j in g):
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def contact_stats(client: int, bodies: dict[int, int], table_top_z: float) -> dict[str, Any]:
    """Contacts and support between the objects of a settled scene (the last physics step's contacts)."""
    ids = sorted(bodies)
    contacts, touching = 0, set()
    lift = dict.fromkeys(ids, 0.0)  # upward force other objects exert on each, newtons
    for a_i, a in enumerate(ids):
        for b in ids[a_i + 1:]:
            if pb.getClosestPoints(bodies[a], bodies[b], distance=CONTACT_M, physicsClientId=client):
                contacts += 1
                touching.update((a, b))
            for point in pb.getContactPoints(bodies[a], bodies[b], physicsClientId=client):
                up = point[9] * point[7][2]  # normal force along contactNormalOnB (from b towards a), upwards
                lift[a] += up
                lift[b] -= up
    supported, lifted = set(), set()
    for i in ids:
        mass = pb.getDynamicsInfo(bodies[i], -1, physicsClientId=client)[0]
        if mass > 0 and lift[i] >= SUPPORT_SHARE * mass * GRAVITY:
            supported.add(i)
        # Bullet's AABB includes a collision margin (~1-2 cm below a standing object's base)
        if pb.getAABB(bodies[i], physicsClientId=client)[0][2] > table_top_z + LIFTED_M:
            lifted.add(i)
    return {"objects": len(ids), "contacts": contacts,
            "touching_share": round(len(touching) / len(ids), 4) if ids else 0.0,
            "supported": len(supported), "lifted": len(lifted), "leaning": len(supported - lifted)}


def occlusion(client: int, bodies: dict[int, int], render_ids, scene_ids: np.ndarray,
              boxes: dict[int, tuple[int, int, int, int] | None]) -> dict[int, float]:
    """Instance id -> the share of its silhouette that other objects hide in ``scene_ids``.

    Each group of :func:`apart_groups` is rendered alone (``render_ids()``, the others moved far below the
    floor for the moment), which gives its members' whole silhouettes; objects out of view are left out."""
    ids = sorted(bodies)
    poses = {i: pb.getBasePositionAndOrientation(bodies[i], physicsClientId=client) for i in ids}
    speeds = {i: pb.getBaseVelocity(bodies[i], physicsClientId=client) for i in ids}
    out: dict[int, float] = {}
    try:
        for group in apart_groups({i: b for i, b in boxes.items() if b is not None}):
            for j in ids:
                pos, q = poses[j]
                z = pos[2] if j in group else pos[2] - 50.0
                pb.resetBasePositionAndOrientation(bodies[j], [pos[0], pos[1], z], q, physicsClientId=client)
            alone = render_ids()
            for i in group:
                whole = int((alone == i).sum())
                if whole:
                    out[i] = 1.0 - min(1.0, float((scene_ids == i).sum()) / whole)
    finally:
        for i in ids:
            pb.resetBasePositionAndOrientation(bodies[i], *poses[i], physicsClientId=client)
            pb.resetBaseVelocity(bodies[i], *speeds[i], physicsClientId=client)
    return out


def clutter_stats(client: int, bodies: dict[int, int], table_top_z: float, render_ids, scene_ids: np.ndarray,
                  view, proj) -> dict[str, Any]:
    """Statistics of a settled scene. ``bodies``: instance id -> body; ``render_ids()`` renders the instance
    ids of the current state from ``view``/``proj``; ``scene_ids``: the scene's instance image as rendered."""
    h, w = scene_ids.shape
    boxes = {i: screen_box(view, proj, w, h, *pb.getAABB(b, physicsClientId=client)) for i, b in bodies.items()}
    stats = contact_stats(client, bodies, table_top_z)
    occ = list(occlusion(client, bodies, render_ids, scene_ids, boxes).values())
    stats["mean_occlusion"] = round(float(np.mean(occ)), 4) if occ else 0.0
    stats["max_occlusion"] = round(float(np.max(occ)), 4) if occ else 0.0
    return stats
