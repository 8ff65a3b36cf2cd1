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
Keys: ``objects``, ``contacts`` (pairs closer than ``CONTACT_M``),
``touching_share`` (objects touching another), ``held_up`` (lowest point above
the table), ``leaning`` (objects in a weight-bearing contact with another, on
or against it), ``mean_occlusion`` / ``max_occlusion`` (share of an object's
silhouette hidden by others).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pybullet as pb

from pushseg.errors import InputError

LEVELS = ("separated", "touching", "piled")
SEPARATED_GAP_M = 0.03  # between collision shapes: no contact, little occlusion from a head camera
CONTACT_M = 0.005  # closer than this counts as touching (a placement slides to within 2 mm; settling shifts a little)
LEANING_NORMAL_Z = 0.25  # a contact whose normal rises this much bears weight: one object on or against another
LIFTED_M = 0.01  # an object whose lowest point is this far above the table top is held up by others
PILE_EVERY = 3  # piled: every third object goes on top of the group


def check_level(level: str | None, where: str = "clutter_level") -> None:
    if level is not None and level not in LEVELS:
        raise InputError(f"{where} must be one of {', '.join(LEVELS)} (or left out for mixed placement), "
                         f"got {level!r}")


def clutter_stats(client: int, bodies: dict[int, int], table_top_z: float, render_ids, scene_ids: np.ndarray
                  ) -> dict[str, Any]:
    """Statistics of a settled scene. ``bodies``: instance id -> body; ``render_ids()`` renders the instance
    ids of the current state; ``scene_ids``: the instance image of the scene as rendered."""
    ids = sorted(bodies)
    contacts, touching, held, leaning = 0, set(), set(), set()
    for a_i, a in enumerate(ids):
        for b in ids[a_i + 1:]:
            if pb.getClosestPoints(bodies[a], bodies[b], distance=CONTACT_M, physicsClientId=client):
                contacts += 1
                touching.update((a, b))
            for point in pb.getContactPoints(bodies[a], bodies[b], physicsClientId=client):
                if abs(point[7][2]) > LEANING_NORMAL_Z:  # contactNormalOnB
                    leaning.add(a if point[5][2] > point[6][2] else b)  # the upper one leans on the lower
    for i in ids:
        lo, _ = pb.getAABB(bodies[i], physicsClientId=client)
        # Bullet's AABB includes a collision margin (~1-2 cm below a standing object's base)
        if lo[2] > table_top_z + LIFTED_M:
            held.add(i)
    occlusion = {}
    poses = {i: pb.getBasePositionAndOrientation(bodies[i], physicsClientId=client) for i in ids}
    speeds = {i: pb.getBaseVelocity(bodies[i], physicsClientId=client) for i in ids}
    try:
        for i in ids:  # each object alone: the others moved far below the floor
            for j in ids:
                if j != i:
                    pos, q = poses[j]
                    pb.resetBasePositionAndOrientation(bodies[j], [pos[0], pos[1], pos[2] - 50.0], q,
                                                       physicsClientId=client)
            alone = int((render_ids() == i).sum())
            for j in ids:
                if j != i:
                    pb.resetBasePositionAndOrientation(bodies[j], *poses[j], physicsClientId=client)
            if alone:
                occlusion[i] = 1.0 - min(1.0, float((scene_ids == i).sum()) / alone)
    finally:
        for i in ids:
            pb.resetBasePositionAndOrientation(bodies[i], *poses[i], physicsClientId=client)
            pb.resetBaseVelocity(bodies[i], *speeds[i], physicsClientId=client)
    occ = list(occlusion.values())
    return {"objects": len(ids), "contacts": contacts,
            "touching_share": round(len(touching) / len(ids), 4) if ids else 0.0,
            "held_up": len(held), "leaning": len(leaning), "mean_occlusion": round(float(np.mean(occ)), 4) if occ else 0.0,
            "max_occlusion": round(float(np.max(occ)), 4) if occ else 0.0}
