"""One builder: every registered strategy is built by ``launcher/build.py`` from the config
``archlab launch`` reads, and ``archlab bench`` builds the same strategy from the same config.

Each strategy's constructor is spied on; the launch path (:func:`launcher.build.build_strategy`)
and the bench path (:func:`launcher.build.bench_strategy`, what ``archlab bench nb201``
calls for each seed) must pass equal arguments. The ``temperature_sigma`` drift of issue 22
(``LlmaticConfig`` 0.1 vs ``LLMatic(temperature_sigma=0.0)``) fails both tests below.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from launcher.build import bench_strategy, build_strategy
from launcher.config import RunConfig, load_config
from launcher.config.validate import validate_config
from nas.bench.nb201 import source_task
from nas.evaluators.table import load_table
from nas.strategies.registry import entry, names
from tests.conftest import shared_path

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


# settings that choose a part rather than being a constructor argument of that name
# (LAPT's ``learner`` names the learner class; the constructor takes the learner object)
_NOT_ARGS = {"lapt": ("learner",)}


def _config(name: str) -> RunConfig:
    """The config a user launches for ``name`` (the shipped file where there is one)."""
    if name in ("lapt", "llmatic"):
        table = str(shared_path("data", "nb201.parquet"))
        return load_config([REPO / "configs" / f"{name}_nb201.yaml"], [f"space.table={table}"])
    if name == "nader":
        return load_config([REPO / "configs" / "demo.yaml"])
    return load_config(overrides=[f"strategy.name={name}"])


def _bench_source(cfg: RunConfig) -> Any:
    """LAPT's source task as ``archlab bench nb201`` makes it (nas.bench.nb201.source_task)."""
    if cfg.strategy.name != "lapt":
        return None
    lc = cfg.strategy.lapt
    return source_task(load_table(lc.source_table or cfg.space.table), lc.source_dataset)


def _plain(value: Any, depth: int = 0) -> Any:
    """A comparable form of a constructor argument (generators by state, objects by type and
    their plain fields)."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, np.random.Generator):
        return ("Generator", repr(value.bit_generator.state))
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v, depth) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, _plain(dataclasses.asdict(value), depth))
    fields = {k: v for k, v in vars(value).items() if not k.startswith("_")} if depth < 1 else {}
    plain = {k: _plain(v, depth + 1) for k, v in fields.items()
             if isinstance(v, (str, int, float, bool, type(None)))}  # fmt: skip
    return (type(value).__name__, plain)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[type], list[dict[str, Any]]]]:
    def watch(cls: type) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = []
        original = cls.__init__  # type: ignore[misc]
        params = inspect.signature(original).parameters

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            bound = inspect.signature(original).bind(self, *args, **kwargs)
            if type(self) is cls:  # LAPT's REA super().__init__ is LAPT's own business
                calls.append({k: v for k, v in bound.arguments.items() if k != "self"})
            original(self, *args, **kwargs)

        assert "self" in params
        monkeypatch.setattr(cls, "__init__", init)
        return calls

    yield watch


@pytest.mark.parametrize("name", sorted(names()))
def test_launch_and_bench_build_the_same_strategy(
    name: str, spy: Callable[[type], list[dict[str, Any]]]
) -> None:
    cfg = _config(name)
    validate_config(cfg)  # the config archlab launch accepts
    cls = type(build_strategy(cfg))
    calls = spy(cls)
    launched = build_strategy(cfg)
    benched = bench_strategy(name, cfg.experiment.seed, _bench_source(cfg), {}, cfg)
    assert type(launched) is type(benched) is cls
    assert len(calls) == 2, calls
    launch_args, bench_args = (_plain(c) for c in calls)
    assert launch_args == bench_args
    section = cfg.strategy.section()
    for f in dataclasses.fields(section):  # every setting the constructor takes reaches it
        if f.name in calls[0] and f.name not in _NOT_ARGS.get(name, ()):
            assert calls[0][f.name] == getattr(section, f.name), f.name


# NADER's constructor names a setting differently from its config section
_RENAMED = {"nader": {"modifier_retries": "retries"}}


@pytest.mark.parametrize("name", sorted(names()))
def test_constructor_defaults_are_the_config_defaults(name: str) -> None:
    """A strategy built directly (tests, scripts) behaves as ``archlab launch`` builds it."""
    e = entry(name)
    cls = type(build_strategy(_config(name)))
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    checked = 0
    for f in dataclasses.fields(e.config):
        param = params.get(_RENAMED.get(name, {}).get(f.name, f.name))
        if param is None or f.name in _NOT_ARGS.get(name, ()):
            continue  # a setting of a part (e.g. LAPT's learner), not of the constructor
        assert param.default == f.default, (name, f.name, param.default, f.default)
        checked += 1
    assert checked or not dataclasses.fields(e.config), name


def test_llmatic_temperature_sigma_is_one_value() -> None:
    from nas.strategies.llmatic import LLMatic, LlmaticConfig

    launched = build_strategy(load_config(overrides=["strategy.name=llmatic"]))
    assert isinstance(launched, LLMatic)
    assert (
        launched.temperature_sigma
        == LLMatic().temperature_sigma
        == LlmaticConfig().temperature_sigma
    )


def test_lapt_learner_settings_match_the_learners_defaults() -> None:
    """``strategy.lapt.min_lift/max_ops/keep_ratio/widen_ops`` are the statistical learner's
    settings; a learner built directly (benchmarks, tests) has the same defaults."""
    from nas.strategies.lapt import LaptConfig
    from nas.strategies.principles import StatisticalPrincipleLearner

    params = inspect.signature(StatisticalPrincipleLearner.__init__).parameters
    for name in ("min_lift", "max_ops", "keep_ratio", "widen_ops"):
        assert params[name].default == getattr(LaptConfig(), name), name
