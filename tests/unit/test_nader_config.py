"""The paper's NB201 setting as a shipped config, and the built-in-pool notice."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from launcher.build import build_strategy, nader_macro
from launcher.config import load_config
from nas.agents.config import NaderConfig
from nas.agents.factory import from_config
from nas.config_checks import SettingError
from nas.graph import cost
from nas.graph.spec import spec_from_blocks
from nas.graph.text import parse_blocks
from nas.llm import LLMClient
from nas.strategies.registry import StrategyParts

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_nb201_config_is_the_papers_setting() -> None:
    cfg = load_config([REPO / "configs" / "nader_nb201_cifar100.yaml"])
    assert nader_macro(cfg) == {"kind": "nb201", "width": 16, "cells": 5}
    assert (cfg.budget.max_params, cfg.budget.max_flops) == (1.5e6, 2.0e8)
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr) == (200, 256, 0.1)
    s = build_strategy(cfg)
    (root,) = s.ask(1)
    skel = root.recipe["skeleton"]
    blocks = parse_blocks(root.arch)
    spec = spec_from_blocks(blocks, kind="nb201", width=int(skel["width"]), cells=5,
                            num_classes=100)  # fmt: skip
    c = cost(spec)
    assert c.params <= 1.5e6 and c.macs <= 2.0e8, c


def test_an_llm_run_on_the_builtin_pool_says_so(caplog: pytest.LogCaptureFixture) -> None:
    llm = LLMClient("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key="x")
    with caplog.at_level(logging.WARNING, logger="nas.agents.factory"):
        from_config(NaderConfig(), StrategyParts(llm=lambda: llm))
    assert any("built-in knowledge pool (12 ideas" in r.message for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nas.agents.factory"):
        from_config(
            NaderConfig(), StrategyParts()
        )  # offline: the built-in pool is what it is made for
    assert not caplog.records


def test_repair_temperature_and_context_window_reach_the_modifier() -> None:
    """A greedy local model repeats its first answer on every repair turn, and its window is
    8K: the run's config reaches the NADER Modifier (``archlab demo llm=local`` sets both)."""
    cfg = load_config(overrides=["strategy.name=nader", "strategy.nader.repair_temperature=0.7",
                                 "llm.context_tokens=8192"])  # fmt: skip
    s = build_strategy(cfg)
    assert (s.modifier.repair_temperature, s.modifier.context_tokens) == (0.7, 8192)
    default = build_strategy(load_config(overrides=["strategy.name=nader"]))
    assert (default.modifier.repair_temperature, default.modifier.context_tokens) == (None, None)


@pytest.mark.parametrize(
    ("field", "value", "need"),
    [
        ("answer", "diff", "choose one of block, edits"),
        ("reask_temperature", -0.5, "must be >= 0"),
        ("max_calls_per_design", -1, "must be >= 0"),
        ("max_tokens_per_design", -1, "must be >= 0"),
    ],
)
def test_the_modifier_settings_are_checked_by_their_section(
    field: str, value: object, need: str
) -> None:
    """The Modifier's settings (#24) are NaderConfig's fields: its own validate() names the
    key as the user types it, whoever builds the section (a config file or a direct caller)."""
    NaderConfig(reask_temperature=None).validate()  # None = the client's temperature
    with pytest.raises(SettingError, match=f"'strategy.nader.{field}' is .*: {need}"):
        NaderConfig(**{field: value}).validate()  # type: ignore[arg-type]
