"""The structured schema of one run's configuration: it only composes.

Each component declares its own section once, beside itself, as a frozen dataclass with a
comment per field and its range checks in ``validate()``:

=================  ====================================================
section            defined in
=================  ====================================================
space              :class:`nas.spaces.config.SpaceConfig`
strategy.random    :class:`nas.strategies.random_search.RandomConfig`
strategy.rea       :class:`nas.strategies.rea.REAConfig`
strategy.lapt      :class:`nas.strategies.lapt.LaptConfig`
strategy.llmatic   :class:`nas.strategies.llmatic.LlmaticConfig`
strategy.nader     :class:`nas.agents.config.NaderConfig`
train              :class:`nas.train.config.TrainConfig` (= ``Recipe`` + ``Runtime`` + data)
executor           :class:`slurm.factory.ExecutorConfig`
executor.site      :class:`slurm.site.SiteParams`
store              :class:`store.open.StoreConfig`
llm                :class:`nas.llm.config.LLMConfig`
fidelity           :class:`nas.controller.fidelity.FidelityConfig`
=================  ====================================================

The run's own sections (``experiment``, ``strategy.name``, ``budget``) are
declared here. YAML files in ``configs/`` and ``key=value`` overrides are checked against
this schema (unknown keys and wrong types are rejected with the full dotted path, the
valid keys and a did-you-mean). Components never read this object: the composition root
(``launcher/build.py``) turns sections into objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nas.agents.register  # noqa: F401  (registers strategy "nader" with the registry)
from nas.agents.config import NaderConfig
from nas.controller.fidelity import FidelityConfig
from nas.llm.config import LLMConfig
from nas.spaces.config import SpaceConfig
from nas.strategies.lapt import LaptConfig
from nas.strategies.llmatic import LlmaticConfig
from nas.strategies.random_search import RandomConfig
from nas.strategies.rea import REAConfig
from nas.train.config import TrainConfig
from slurm.factory import ExecutorConfig
from slurm.site import SiteParams
from store.open import StoreConfig

__all__ = [
    "BudgetConfig",
    "ExecutorConfig",
    "ExperimentConfig",
    "FidelityConfig",
    "LLMConfig",
    "LaptConfig",
    "LlmaticConfig",
    "NaderConfig",
    "REAConfig",
    "RandomConfig",
    "RunConfig",
    "SiteParams",
    "SpaceConfig",
    "StoreConfig",
    "StrategyConfig",
    "TrainConfig",
]


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "demo"  # human-readable run name; the run id is "<name>-<timestamp>-<hash>"
    seed: int = 0  # master seed: strategy RNG, candidate seeds and data splits derive from it
    run_root: str = "runs"  # directory holding runs/<run_id>/ (a shared filesystem on a cluster)
    description: str = ""  # free text stored in the manifest


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "random"  # random | rea | lapt | llmatic | nader (any registered strategy)
    random: RandomConfig = field(default_factory=RandomConfig)
    rea: REAConfig = field(default_factory=REAConfig)
    lapt: LaptConfig = field(default_factory=LaptConfig)
    llmatic: LlmaticConfig = field(default_factory=LlmaticConfig)
    nader: NaderConfig = field(default_factory=NaderConfig)

    def sections(self) -> dict[str, object]:
        """Each strategy's section by strategy name (what the registry's config classes are)."""
        return {"random": self.random, "rea": self.rea, "lapt": self.lapt,
                "llmatic": self.llmatic, "nader": self.nader}  # fmt: skip

    def section(self) -> object:
        """The section of the chosen strategy (``strategy.<name>``)."""
        return self.sections()[self.name]

    def validate(self, where: str = "strategy.") -> None:
        self.random.validate(where + "random.")
        self.rea.validate(where + "rea.")
        self.lapt.validate(where + "lapt.")
        self.llmatic.validate(where + "llmatic.")
        self.nader.validate(where + "nader.")


@dataclass(frozen=True)
class BudgetConfig:
    candidates: int = 8  # evaluated candidates (the main stopping rule)
    wall_hours: float = 0.0  # controller wall-clock limit (0 = none)
    gpu_hours: float = 0.0  # accelerator hours over all trials (0 = none)
    llm_usd: float = 0.0  # LLM dollars (0 = none)
    max_params: float = 0.0  # per-architecture parameter ceiling (0 = none)
    max_flops: float = 0.0  # per-architecture FLOPs ceiling (0 = none)


@dataclass(frozen=True)
class RunConfig:
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
