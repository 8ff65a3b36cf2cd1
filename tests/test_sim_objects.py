"""Object sets: sizes, disjointness, and that every object loads at tabletop size."""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pytest

from pushseg.envs import scene as sc
from pushseg.envs.objects import OBJECT_SETS, object_set
from pushseg.errors import InputError


def test_sets_are_big_enough_and_disjoint():
    assert set(OBJECT_SETS) == {"source", "transfer", "target-train", "target-test"}
    train, test = object_set("target-train"), object_set("target-test")
    assert len(train) >= 40 and len(test) >= 16
    assert not set(train.names) & set(test.names)
    assert not {o.urdf for o in train.objects if o.urdf} & {o.urdf for o in test.objects if o.urdf}
    # The pretraining sets are drawn at run time and never hold a target object.
    assert object_set("source").procedural and object_set("transfer").procedural
    assert not object_set("source").objects and not object_set("transfer").objects
    assert len(set(train.names)) == len(train) and len(set(test.names)) == len(test)


def test_source_draws_new_primitives_from_the_seed():
    src = object_set("source")
    a = src.sample(np.random.default_rng(0), 5)
    assert a == src.sample(np.random.default_rng(0), 5)
    assert a != src.sample(np.random.default_rng(1), 5)
    assert all(o.kind in ("box", "cylinder", "prism") for o in a)
    assert any(o.texture is not None for o in src.sample(np.random.default_rng(2), 20))


def test_unknown_set_names_the_valid_ones():
    with pytest.raises(InputError, match="unknown object set 'kitchen': choose one of source, target-test, target-train, transfer"):
        object_set("kitchen")


@pytest.mark.parametrize("name", ["target-train", "target-test"])
def test_every_object_loads_at_tabletop_size(name):
    client = pb.connect(pb.DIRECT)
    try:
        pb.setGravity(0, 0, -9.81, physicsClientId=client)
        sc.build_room(client, np.random.default_rng(0), sc.TARGET_JITTER, [])
        for spec in object_set(name).objects:
            body = sc.create_object(client, spec, np.array([0.7, 0.0]), 0.0, [])
            lo, hi = (np.array(x) for x in pb.getAABB(body, physicsClientId=client))
            ext = hi - lo
            assert 0.03 <= max(ext[:2]) <= 0.16, f"{spec.name} footprint {ext[:2]}"
            assert 0.02 <= ext[2] <= 0.15, f"{spec.name} height {ext[2]}"
            assert lo[2] == pytest.approx(sc.TABLE_TOP_Z + 0.002, abs=1e-4)
            pb.removeBody(body, physicsClientId=client)
    finally:
        pb.disconnect(physicsClientId=client)
