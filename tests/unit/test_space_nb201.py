from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from nas.spaces import NB201Space, SearchSpace, SpaceError, make_space
from nas.spaces.nb201 import EDGES, OPS, cell_flops_m, from_ops, to_ops, unique_str
from tests.conftest import shared_path

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_unique_str_matches_the_table_isomorphism_classes() -> None:
    t = pq.read_table(shared_path("data", "nb201.parquet"), columns=["arch_str", "unique_str"])
    archs, uniq = t.column("arch_str").to_pylist(), t.column("unique_str").to_pylist()
    assert [unique_str(a) for a in archs] == uniq
    assert len(set(uniq)) == 6466
    space = NB201Space()
    by_class: dict[str, set[str]] = {}
    for a, u in zip(archs[:3000], uniq[:3000], strict=True):
        by_class.setdefault(u, set()).add(space.arch_hash(a))
    assert all(len(h) == 1 for h in by_class.values())
    assert len({next(iter(h)) for h in by_class.values()}) == len(by_class)


def test_flops_formula_matches_the_table() -> None:
    t = pq.read_table(shared_path("data", "nb201.parquet"), columns=["arch_str", "flops_M_cifar10"])
    for a, f in zip(
        t.column("arch_str").to_pylist()[:500],
        t.column("flops_M_cifar10").to_pylist()[:500],
        strict=True,
    ):
        assert cell_flops_m(to_ops(a)) == pytest.approx(f, abs=1e-6)


def test_isomorphic_cells_share_a_hash() -> None:
    s = NB201Space()
    # node 1 is dead (none into it), so what flows out of it does not matter
    a = from_ops(["none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "none"])
    b = from_ops(["none", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "skip_connect", "none"])
    assert s.arch_hash(a) == s.arch_hash(b)
    assert s.arch_hash(a) != s.arch_hash(BEST_C10)


def test_space_protocol_sample_mutate_crossover() -> None:
    s = make_space("nb201")
    assert isinstance(s, SearchSpace) and s.size == 15625 and len(s.positions) == len(EDGES)
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = s.sample(rng)
        m = s.mutate(a, rng)
        assert sum(x != y for x, y in zip(to_ops(a), to_ops(m), strict=True)) == 1
        b = s.sample(rng)
        child = to_ops(s.crossover(a, b, rng))
        assert all(c in (x, y) for c, x, y in zip(child, to_ops(a), to_ops(b), strict=True))
    assert len(s.neighbours(BEST_C10)) == 6 * (len(OPS) - 1)


def test_refined_space_restricts_sampling_and_mutation() -> None:
    s = NB201Space()
    allowed = [frozenset({"nor_conv_3x3", "skip_connect"})] * 6
    rng = np.random.default_rng(1)
    for _ in range(30):
        a = s.sample(rng, allowed)
        assert set(to_ops(a)) <= {"nor_conv_3x3", "skip_connect"}
        assert set(to_ops(s.mutate(a, rng, allowed))) <= {"nor_conv_3x3", "skip_connect"}
    assert s.refined_size(allowed) == 64 == len(list(s.enumerate(allowed)))


def test_validate_errors_say_what_to_fix() -> None:
    s = NB201Space()
    with pytest.raises(SpaceError, match="unknown NB201 op 'conv5'"):
        s.validate("|conv5~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(SpaceError, match="3 '\\+'-separated nodes"):
        s.validate("|none~0|")
    with pytest.raises(SpaceError, match="unknown space kind"):
        make_space("nb301")


def test_features_within_declared_bounds() -> None:
    s = NB201Space()
    (rlo, rhi), (flo, fhi) = s.feature_bounds
    rng = np.random.default_rng(2)
    for _ in range(200):
        r, f = s.features(s.sample(rng))
        assert rlo <= r <= rhi and flo - 1e-9 <= f <= fhi + 1e-9
    assert s.features(from_ops(["none"] * 6)) == (0.0, pytest.approx(flo))
