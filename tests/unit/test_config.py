import pytest

from launcher.config import ConfigError, load_config, to_yaml
from launcher.config.load import _check_keys, parse_override
from launcher.config.presets import DEMO
from launcher.config.schema import RunConfig
from tests.conftest import REPO


def test_defaults_and_overrides_are_typed():
    cfg = load_config(
        overrides=["train.epochs=3", "executor.site.extra_sbatch=[--exclusive]", "llm.seed=5"]
    )
    assert (
        cfg.train.epochs == 3
        and cfg.executor.site.extra_sbatch == ("--exclusive",)
        and cfg.llm.seed == 5
    )
    assert isinstance(cfg, RunConfig)


def test_unknown_key_lists_valid_keys_and_suggests():
    with pytest.raises(ConfigError) as e:
        load_config(overrides=["train.epoch=3"])
    msg = str(e.value)
    assert "'train.epoch'" in msg and "Did you mean 'epochs'" in msg and "batch_size" in msg


def test_unknown_nested_key_in_yaml_names_the_file_and_path(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("executor:\n  site:\n    partitoin: gpu\n")
    with pytest.raises(
        ConfigError,
        match=r"x.yaml: unknown config key 'executor.site.partitoin'. Did you mean 'partition'",
    ):
        load_config([f])


def test_wrong_type_names_the_full_key():
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(overrides=["train.epochs=many"])


def test_bad_choice_lists_values():
    with pytest.raises(ConfigError, match="valid values: lapt, llmatic, nader, random, rea"):
        load_config(overrides=["strategy.name=bayes"])


def test_section_given_a_scalar():
    with pytest.raises(ConfigError, match="is a section"):
        load_config(overrides=["train=3"])


def test_override_parsing():
    assert parse_override("a.b=3") == {"a": {"b": 3}}
    with pytest.raises(ConfigError):
        parse_override("novalue")


def test_every_shipped_config_loads():
    files = sorted((REPO / "configs").glob("*.yaml"))
    assert files
    for f in files:
        load_config([f])


def test_demo_yaml_equals_embedded_preset():
    assert to_yaml(load_config([REPO / "configs" / "demo.yaml"])) == to_yaml(
        load_config(preset=DEMO)
    )
    _check_keys(DEMO, RunConfig(), "", "preset")
