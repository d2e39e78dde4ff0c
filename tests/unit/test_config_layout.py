"""Where settings live (issue 22): each section is one class beside its component, the
schema only composes, no module below the launcher reads a run's ``config.yaml``, and the
strategy registry names nothing above its own package."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

import pytest

from launcher.config.schema import RunConfig

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("launcher", "nas", "slurm", "store", "analysis")


def _sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (REPO / pkg).rglob("*.py"))


def _sections(cls: type, seen: dict[type, str], where: str = "") -> dict[type, str]:
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            seen.setdefault(
                type(default), where + f.name
            )  # a class composed twice: its first place
            _sections(type(default), seen, where + f.name + ".")
    return seen


def test_no_cfg_any() -> None:
    hits = [f"{p.relative_to(REPO)}:{i}" for p in _sources(*PRODUCT)
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"\bcfg\w*\s*:\s*Any\b", line)]  # fmt: skip
    assert not hits, hits


def test_no_config_yaml_read_below_the_launcher() -> None:
    pattern = re.compile(r"""/\s*["']config\.yaml["']|["']config\.yaml["']\s*\)""")
    hits = [f"{p.relative_to(REPO)}:{i}" for p in _sources("nas", "slurm", "store", "analysis")
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]  # fmt: skip
    assert not hits, hits


def test_every_section_is_declared_beside_its_component() -> None:
    """The schema composes; only the run's own sections are declared in it."""
    sections = _sections(RunConfig, {})
    own = {c.__name__ for c, _ in sections.items() if c.__module__ == "launcher.config.schema"}
    assert own == {"ExperimentConfig", "StrategyConfig", "BudgetConfig"}, own
    homes = {sections[c]: c.__module__ for c in sections}
    assert homes["strategy.llmatic"] == "nas.strategies.llmatic"
    assert homes["strategy.nader"] == "nas.agents.config"
    assert homes["executor.site"] == "slurm.site" and homes["store"] == "store.open"
    assert homes["llm"] == "nas.llm.config" and homes["train"] == "nas.train.config"


def test_no_section_mirrors_another() -> None:
    """No two setting classes repeat each other's fields (a subclass reuses its bases')."""
    from nas.train.recipe import Recipe
    from nas.train.runtime import Runtime

    classes = [*_sections(RunConfig, {}), Recipe, Runtime, RunConfig]
    for a, b in itertools.combinations(classes, 2):
        if issubclass(a, b) or issubclass(b, a):
            continue
        shared = {f.name for f in dataclasses.fields(a)} & {f.name for f in dataclasses.fields(b)}
        assert len(shared) <= 2, (a.__name__, b.__name__, shared)


def test_the_registry_names_nothing_above_its_package() -> None:
    from nas.strategies import registry

    text = (REPO / "nas" / "strategies" / "registry.py").read_text()
    code = text.split('"""', 2)[2]  # below the module docstring
    assert "nas.agents" not in code.replace("nas.agents.register", "")
    for config, factory in registry._LAZY.values():
        assert config.startswith("nas.strategies.") and factory.startswith("nas.strategies.")
