from __future__ import annotations

import json

import numpy as np
import pytest

from nas.spaces import ChannelBenchMacroSpace, NASBenchMacroSpace, SpaceError, make_space
from tests.conftest import shared_path


def test_nas_bench_macro_codes_and_flops() -> None:
    data = json.loads(
        shared_path("fixtures", "benchmarks", "nas-bench-macro_cifar10.json").read_text()
    )
    s = NASBenchMacroSpace()
    assert s.size == len(data) == 6561
    for code in list(data)[:300]:
        assert s.encode(s.decode(code)) == code
        assert s.flops(code) == data[code]["flops"]
        lo, hi = s.feature_bounds[1]
        assert lo <= s.features(code)[1] <= hi
    assert s.decode("02012100")[1] == "mb6_k5"
    with pytest.raises(SpaceError, match="8 digits"):
        s.validate("0201210")


@pytest.mark.parametrize(
    "base,fname", [("resnet", "Results_ResNet.json"), ("mobilenet", "Results_MobileNet.json")]
)
def test_channel_bench_macro(base: str, fname: str) -> None:
    data = json.loads(shared_path("fixtures", "benchmarks", fname).read_text())
    s = make_space(f"channel-{base}")
    assert isinstance(s, ChannelBenchMacroSpace) and s.size == len(data) == 16384
    assert set(s.enumerate()) == set(data)
    rng = np.random.default_rng(0)
    a = s.sample(rng)
    assert sum(x != y for x, y in zip(a, s.mutate(a, rng), strict=True)) == 1
    (rlo, rhi), (flo, fhi) = s.feature_bounds
    for code in list(data)[:200]:
        r, f = s.features(code)
        assert rlo - 1e-12 <= r <= rhi + 1e-12 and flo <= f <= fhi
    with pytest.raises(SpaceError, match="resnet"):
        ChannelBenchMacroSpace("vgg")
