"""NAS-Bench-201 cells as graphs; equivalence with the NB201 table (sampled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nas.graph import ArchSpec, canonical_hash, cost, graph_to_nb201, nb201_spec, nb201_to_graph
from nas.graph import validate as validate_graph
from nas.graph.nb201 import dead_edges, live_edges, nb201_op_params
from nas.spaces.nb201 import random_arch, to_ops

pytestmark = pytest.mark.unit

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TABLE = SHARED / "data" / "nb201.parquet"
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _table() -> list[tuple[str, float, float]]:
    if not TABLE.exists():
        pytest.skip(f"NB201 table not found at {TABLE} (../shared is absent)")
    import pyarrow.parquet as pq

    t = pq.read_table(TABLE, columns=["arch_str", "params_M_cifar10", "flops_M_cifar10"])
    return list(zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True))


def test_graphs_are_valid_and_pruned() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        arch = random_arch(rng)
        g = nb201_to_graph(arch)
        assert validate_graph(g, channels=16) == []
        n_live = sum(live_edges(to_ops(arch)))
        assert len(dead_edges(arch)) == sum(o != "none" for o in to_ops(arch)) - n_live


def test_zero_cell_and_identity_cell() -> None:
    zero = nb201_to_graph("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert [n.op for n in zero.nodes] == ["input", "output", "Zero"]
    ident = nb201_to_graph("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert ident.edges == ((0, 1),)


def test_round_trip_to_arch_string() -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        arch = random_arch(rng)
        back = graph_to_nb201(nb201_to_graph(arch))
        assert back is not None
        assert canonical_hash(nb201_to_graph(back)) == canonical_hash(nb201_to_graph(arch))
    assert graph_to_nb201(nb201_to_graph(BEST)) == BEST
    from nas.graph import seed_block

    assert graph_to_nb201(seed_block("resnet_basic")) is None


ALL3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_largest_cell_matches_known_numbers() -> None:
    c = cost(nb201_spec(ALL3))
    assert (c.params, c.macs, c.output_shape) == (1531546, 220119690, (1, 10))


def test_sampled_cells_equal_the_table() -> None:
    rows = _table()
    rng = np.random.default_rng(3)
    live_checked = dead_checked = 0
    for i in rng.choice(len(rows), size=300, replace=False):
        arch, p_m, f_m = rows[int(i)]
        c = cost(nb201_spec(arch))
        dead = dead_edges(arch)
        fully_live = not dead and any(o != "none" for o in to_ops(arch))
        if fully_live:
            assert round(c.params / 1e6, 6) == p_m, arch
            assert round(c.macs / 1e6, 5) == f_m, arch
            live_checked += 1
        else:
            pruned = sum(5 * nb201_op_params(op, w) for _, op in dead for w in (16, 32, 64))
            assert round((c.params + pruned) / 1e6, 6) == p_m, arch
            dead_checked += 1
    assert live_checked > 100 and dead_checked > 50


def test_spec_round_trip_and_arch_hash() -> None:
    from nas.graph import arch_hash

    s = nb201_spec(BEST)
    assert ArchSpec.from_dict(s.to_dict()) == s
    assert arch_hash(ArchSpec.from_dict(s.to_dict())) == arch_hash(s)
    assert arch_hash(s) != arch_hash(nb201_spec(BEST, channels=32))
