from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nas.strategies import (
    RandomSearch,
    StrategyError,
    StrategyParts,
    build,
    create,
    names,
    register,
)
from nas.strategies.random_search import RandomConfig


def test_builtin_names_and_construction() -> None:
    assert {"random", "rea", "lapt", "llmatic"} <= set(names())
    s = create("rea", rng=np.random.default_rng(0), population_size=4, sample_size=2)
    assert s.name == "rea"


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(StrategyError, match=r"did you mean 'rea'\?.*registered: .*llmatic"):
        create("reaa")


def test_register_a_new_strategy_like_nader() -> None:
    def factory(config: RandomConfig, parts: StrategyParts) -> RandomSearch:
        s = RandomSearch(rng=parts.rng, allow_duplicates=config.allow_duplicates)
        s.name = "nader-test"
        return s

    register("nader-test", RandomConfig, factory)
    assert create("nader-test", rng=np.random.default_rng(0)).name == "nader-test"
    assert build("nader-test", RandomConfig(), StrategyParts()).name == "nader-test"
    register("nader-test", RandomConfig, factory)  # same factory again: fine
    with pytest.raises(StrategyError, match="already registered"):
        register("nader-test", RandomConfig, lambda c, p: RandomSearch(rng=p.rng))
    with pytest.raises(StrategyError, match="takes a RandomConfig"):
        build("nader-test", object(), StrategyParts())
    with pytest.raises(StrategyError, match="unknown option.*popsize"):
        create("rea", popsize=3)


def test_only_the_chosen_strategy_is_imported() -> None:
    code = (
        "import sys, numpy as np\n"
        "from nas.strategies import create\n"
        "create('random', rng=np.random.default_rng(0)).ask(1)\n"
        "bad = [m for m in ('nas.strategies.lapt', 'nas.strategies.llmatic', 'torch',"
        " 'submitit', 'boto3', 'hnswlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_demo_constructor_still_works() -> None:
    s = RandomSearch({"epochs": 1}, rng=np.random.default_rng(0), seed=3)
    [c] = s.ask(1)
    assert c.recipe == {"epochs": 1} and c.seed == 3
