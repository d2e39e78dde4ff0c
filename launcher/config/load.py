"""Load, check and save run configurations.

``load_config(["configs/demo.yaml"], ["train.epochs=3"])`` returns a typed ``RunConfig``.
Every mistake is a :class:`ConfigError` whose message has the full dotted path, the valid
keys (or values) and a did-you-mean; the CLI prints it and exits 2, without a traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from launcher.config.schema import RunConfig
from nas.agents.config import ANSWER_FORMS
from nas.llm.config import MODES
from nas.llm.structured import STRUCTURED_MODES
from nas.spaces.config import KINDS as SPACE_KINDS
from nas.spaces.config import MACROS
from nas.strategies.lapt import LEARNERS
from nas.train.config import DATASETS, EVALUATORS
from slurm.factory import KINDS as EXECUTOR_KINDS

__all__ = ["CHOICES", "ConfigError", "config_hash", "load_config", "save_config", "to_yaml"]


class ConfigError(ValueError):
    """A configuration mistake, with a message that says how to fix it."""


# Fields whose value must be one of a fixed set, checked at load (every command): the sets
# are the components' own (defined once, beside what they configure).
CHOICES: dict[str, tuple[str, ...]] = {
    "space.kind": SPACE_KINDS,
    "space.macro": MACROS,
    "strategy.lapt.learner": LEARNERS,
    "strategy.nader.answer": ANSWER_FORMS,
    "train.evaluator": EVALUATORS,
    "train.dataset": DATASETS,
    "executor.kind": EXECUTOR_KINDS,
    "llm.mode": MODES,
    "llm.structured": STRUCTURED_MODES,
}


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def _check_keys(data: Any, schema: Any, path: str, source: str) -> None:
    """Reject keys that the schema does not have, recursively, naming the dotted path."""
    if not isinstance(data, Mapping) or not dataclasses.is_dataclass(schema):
        return
    valid = {f.name: f for f in dataclasses.fields(schema)}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else str(key)
        if key not in valid:
            where = f"'{path}'" if path else "the top level"
            raise ConfigError(
                f"{source}: unknown config key '{dotted}'.{_suggest(str(key), valid)}\n"
                f"  Valid keys at {where}: {', '.join(sorted(valid))}"
            )
        sub = getattr(schema, key)
        if dataclasses.is_dataclass(sub):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{source}: '{dotted}' is a section; give a mapping of its keys "
                    f"({', '.join(f.name for f in dataclasses.fields(sub))}), not {value!r}"
                )
            _check_keys(value, sub, dotted, source)


def _merge(base: DictConfig, data: Mapping[str, Any], source: str) -> DictConfig:
    _check_keys(data, RunConfig(), "", source)
    try:
        return cast(DictConfig, OmegaConf.merge(base, data))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or "?"
        raise ConfigError(f"{source}: bad value for '{key}': {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _check_choices(cfg: DictConfig) -> None:
    from nas.strategies.registry import names as strategy_names  # the registry decides

    for dotted, allowed in {**CHOICES, "strategy.name": strategy_names()}.items():
        value = OmegaConf.select(cfg, dotted)
        if value not in allowed:
            raise ConfigError(
                f"'{dotted}' is {value!r}; valid values: {', '.join(allowed)}.{_suggest(str(value), allowed)}"
            )
    if cfg.budget.candidates < 1:
        raise ConfigError("'budget.candidates' must be >= 1 (how many candidates to evaluate)")
    if cfg.executor.max_in_flight < 1:
        raise ConfigError("'executor.max_in_flight' must be >= 1")


def parse_override(item: str) -> dict[str, Any]:
    """``a.b=3`` -> ``{"a": {"b": 3}}`` (the value is parsed as YAML: numbers, lists, bools)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not key=value (e.g. train.epochs=3)")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{item}' has an empty key part")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        # YAML 1.1 reads on/off/yes/no as booleans; config files (OmegaConf's loader) and a
        # choice like llm.structured=off or train.amp=off mean the word (a bool field still
        # converts it)
        value = raw.strip()
    out: dict[str, Any] = {}
    cur = out
    parts = key.split(".")
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value
    return out


def load_config(
    files: Iterable[str | Path] = (),
    overrides: Iterable[str] = (),
    preset: Mapping[str, Any] | None = None,
    *,
    check: bool = False,
) -> RunConfig:
    """Schema defaults <- ``preset`` <- each YAML file in order <- ``key=value`` overrides.

    ``check=True`` also runs the whole-config validation (:mod:`launcher.config.validate`:
    ranges, strategy/space compatibility, tables and data present): what every command that
    creates, starts or resumes a run asks for, before anything exists."""
    cfg = cast(DictConfig, OmegaConf.structured(RunConfig))
    if preset:
        cfg = _merge(cfg, preset, "preset")
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise ConfigError(f"config file '{path}' not found (looked in {path.resolve().parent})")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {_first_line(e)}") from None
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        cfg = _merge(cfg, data, str(path))
    for item in overrides:
        cfg = _merge(cfg, parse_override(item), f"override '{item}'")
    _check_choices(cfg)
    run_cfg = cast(RunConfig, OmegaConf.to_object(cfg))
    if check:
        from launcher.config.validate import validate_config

        validate_config(run_cfg)
    return run_cfg


def to_yaml(cfg: RunConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def save_config(cfg: RunConfig, path: str | Path) -> None:
    Path(path).write_text(to_yaml(cfg))


def config_hash(cfg: RunConfig) -> str:
    from nas.records import content_hash

    return content_hash(to_yaml(cfg))
