"""Every shipped config in ``configs/`` loads and passes ``archlab launch``'s validation.

Keys users type did not change when the settings moved beside their components
(``strategy.llmatic.temperature_sigma=...`` still works); the files are loaded as a user
would, with the paths a user must give (a benchmark table, a data folder) filled in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.config import load_config, validate_config
from tests.conftest import shared_path

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def _cifar100(root: Path) -> str:
    """An on-disk CIFAR-100 layout (the check looks at file names, not contents)."""
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    for name in ("train", "test"):
        (d / name).write_bytes(b"")
    return str(root)


def _overrides(path: Path, tmp_path: Path) -> list[str]:
    text = path.read_text()
    out = []
    if "evaluator: table" in text:
        out.append(f"space.table={shared_path('data', 'nb201.parquet')}")
    if "cifar100" in text and "evaluator: table" not in text:
        out.append(f"train.data_dir={_cifar100(tmp_path / 'data')}")
    if "learner: llm" in text:
        out.append("llm.base_url=http://127.0.0.1:9/v1")  # the endpoint a user must name
    return out


def test_there_are_configs() -> None:
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads_and_validates(path: Path, tmp_path: Path) -> None:
    files = [path] if path.name != "site_example.yaml" else [REPO / "configs" / "demo.yaml", path]
    cfg = load_config(files, _overrides(path, tmp_path))
    validate_config(cfg)


def test_user_keys_still_reach_the_moved_sections() -> None:
    cfg = load_config(overrides=[
        "strategy.name=llmatic", "strategy.llmatic.temperature_sigma=0.3", "strategy.rea.sample_size=2",
        "strategy.nader.modifier_retries=1", "train.epochs=3", "train.device=cpu",
        "executor.site.time=00:30:00", "store.retry_s=5", "llm.max_tokens=64",
    ])  # fmt: skip
    assert cfg.strategy.llmatic.temperature_sigma == 0.3 and cfg.strategy.rea.sample_size == 2
    assert cfg.strategy.nader.modifier_retries == 1
    assert cfg.train.recipe().epochs == 3 and cfg.train.runtime().device == "cpu"
    assert cfg.executor.site.time_limit_s() == 1800
    assert cfg.store.retry_s == 5 and cfg.llm.max_tokens == 64
