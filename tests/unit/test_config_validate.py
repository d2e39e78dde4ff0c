"""Whole-config validation (launcher/config/validate.py) and what resume may change: each
mistake is ONE line naming the key and the fix, raised before anything exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from launcher.config import ConfigError, load_config
from launcher.config.presets import DEMO
from launcher.config.resume_keys import refusal
from tests.conftest import REPO


def _table(path: Path) -> Path:
    """A three-architecture NB201-format table (the columns the loader reads)."""
    archs = [f"|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|none~{i}|"
             for i in range(3)]  # fmt: skip
    cols: dict[str, list[object]] = {"arch_str": archs}
    for d, v in (("cifar10", "cifar10_valid_val_acc"), ("cifar100", "cifar100_val_acc"),
                 ("imagenet16", "imagenet16_val_acc")):  # fmt: skip
        cols[v] = [50.0, 60.0, 70.0]
        cols[f"{d}_test_acc"] = [51.0, 61.0, 71.0]
    pq.write_table(pa.table(cols), path)
    return path


def _one_line_error(overrides: list[str], files: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as e:
        load_config(files or [], overrides, preset=None if files else DEMO, check=True)
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epochs=-1", "train.epochs"),
        ("train.epochs=0", "train.epochs"),
        ("train.lr=0", "train.lr"),
        ("train.val_fraction=1.0", "train.val_fraction"),
        ("train.batch_size=0", "train.batch_size"),
        ("budget.gpu_hours=-2", "budget.gpu_hours"),
        ("executor.pack=0", "executor.pack"),
        ("strategy.rea.sample_size=50", "strategy.rea.sample_size"),
        ("train.device=gpu", "train.device"),
        ("executor.site.time=soon", "executor.site.time"),
        ("train.dataset=cifar10", "train.data_dir"),
        ("space.base_block=nope", "space.base_block"),
        ("llm.mode=replay", "llm.cassette"),
        ("llm.unreachable_stop_after=-1", "llm.unreachable_stop_after"),
        ("space.kind=nb201", "space.kind"),  # NADER designs blocks
    ],
)
def test_each_mistake_is_one_line_naming_the_key(override: str, key: str) -> None:
    msg = _one_line_error([override])
    assert msg.startswith(f"'{key}' is "), msg


def test_missing_data_dir_and_empty_data_dir(tmp_path: Path) -> None:
    msg = _one_line_error(["train.dataset=cifar10", "train.data_dir=/nonexistent"])
    assert "'train.data_dir' is '/nonexistent': no such directory" in msg
    msg = _one_line_error(["train.dataset=cifar100", f"train.data_dir={tmp_path}"])
    assert "holds no cifar100 data" in msg and "cifar-100-python" in msg
    (tmp_path / "cifar-100-python").mkdir()
    for f in ("train", "test"):
        (tmp_path / "cifar-100-python" / f).write_bytes(b"")
    cfg = load_config(preset=DEMO, overrides=["train.dataset=cifar100",
                                              f"train.data_dir={tmp_path}"], check=True)  # fmt: skip
    assert cfg.train.data_dir == str(tmp_path)


def test_fashion_mnist_data_dir_is_checked_by_the_loader_finder(tmp_path: Path) -> None:
    """Issue 25's drill: fashion-mnist validates (it used to raise KeyError) — the same
    finder as the loader: four IDX files, .gz or not, in data_dir or data_dir/fashion-mnist."""
    msg = _one_line_error(["train.dataset=fashion-mnist", f"train.data_dir={tmp_path}"])
    assert msg.startswith("'train.data_dir' is ") and "Fashion-MNIST not found" in msg, msg
    (tmp_path / "fashion-mnist").mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / "fashion-mnist" / f"{stem}.gz").write_bytes(b"")
    (tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte").write_bytes(b"")
    cfg = load_config(preset=DEMO, overrides=["train.dataset=fashion-mnist",
                                              f"train.data_dir={tmp_path}"], check=True)  # fmt: skip
    assert cfg.train.dataset == "fashion-mnist"


def test_tables_and_lapt_source(tmp_path: Path) -> None:
    lapt = [str(REPO / "configs" / "lapt_nb201.yaml")]
    msg = _one_line_error([], lapt)
    assert msg.startswith("'space.table' is ''") and "space.table=/path" in msg
    msg = _one_line_error(["space.table=/no/such.parquet"], lapt)
    assert "does not exist" in msg
    table = _table(tmp_path / "nb201.parquet")
    msg = _one_line_error([f"space.table={table}", "strategy.lapt.source_dataset=cifar100"], lapt)
    assert msg.startswith("'strategy.lapt.source_dataset' is 'cifar100'") and "target" in msg
    msg = _one_line_error([f"space.table={table}", "train.table_fidelity=12"], lapt)
    assert msg.startswith("'train.dataset' is 'cifar100'") and "fidelity 12" in msg
    cfg = load_config(lapt, [f"space.table={table}"], check=True)
    assert cfg.space.table == str(table)
    llmatic = [str(REPO / "configs" / "llmatic_nb201.yaml")]
    assert _one_line_error([], llmatic).startswith("'space.table' is ''")
    assert load_config(llmatic, [f"space.table={table}"], check=True).strategy.name == "llmatic"


def test_strategy_space_compatibility() -> None:
    msg = _one_line_error(["strategy.name=random"])  # the demo preset has space.kind=block
    assert msg.startswith("'space.kind' is 'block'") and "strategy.name=nader" in msg
    msg = _one_line_error(["strategy.name=lapt", "space.kind=nb201"])
    assert "strategy.lapt.source_table" in msg


def test_every_shipped_config_but_data_and_tables_validates() -> None:
    load_config(preset=DEMO, check=True)
    load_config([REPO / "configs" / "demo.yaml"], check=True)


def test_resume_refuses_keys_that_invalidate_stored_results() -> None:
    for key in ("budget.candidates", "space.table", "executor.kind", "llm.base_url",
                "train.data_dir", "strategy.lapt.source_table"):  # fmt: skip
        assert refusal(key, has_candidates=True) is None, key
    for key in ("train.epochs", "train.dataset", "experiment.seed", "space.kind",
                "strategy.name", "store.uri"):  # fmt: skip
        why = refusal(key, has_candidates=True)
        assert why, key
    assert "id" in str(refusal("train.epochs", True))
    # a run with nothing stored may change anything (it could not start)
    assert refusal("train.epochs", has_candidates=False) is None


CASES = [
    ("launch", "configs/lapt_nb201.yaml", "--cluster", "local"),
    ("launch", "configs/lapt_nb201.yaml", "--cluster", "local", "--dry-run"),
    ("sbatch", "configs/llmatic_nb201.yaml"),
    ("demo", "train.epochs=-1"),
    ("demo", "train.dataset=cifar10", "train.data_dir=/nonexistent"),
]


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) for c in CASES])
def test_cli_exits_2_with_one_line_and_creates_no_run(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    args = [a if not a.startswith("configs/") else str(REPO / a) for a in argv]
    out = subprocess.run(
        [sys.executable, "-m", "launcher", *args, f"experiment.run_root={tmp_path / 'runs'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []  # no run directory, no runs root
