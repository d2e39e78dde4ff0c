"""Controller overhead: a 500-candidate (or 10,000-candidate) run with a table evaluator.

Reports the controller's own time per candidate (journal, snapshots, store appends, ask/tell,
dedupe, compaction; excluding the evaluator and waiting on the executor), the same per
window of the run (flat = nothing grows with the run's size), fsyncs, the store's file count
at the end and its maximum during the run (bounded by compaction as the run goes), the time
each of ``--restarts`` restarts of the finished run takes (restore from the journal and the
store: issue 22's goal is <= 5 s at 10,000 candidates), and — with ``--executor
slurm`` — the sbatch calls and slurmctld/slurmdbd queries.

    .venv/bin/python bench/bench_controller.py [--candidates 500] [--strategy random|rea]
        [--executor inprocess|local|slurm] [--max-in-flight 8] [--pack 1]
        [--poll-interval 1.0] [--table ../shared/data/nb201.parquet] [--profile]
        [--restarts 3] [--restart-only ROOT]

With ``--executor slurm`` run ``eval "$(bash scripts/slurm-up.sh | sed 's/^/export /')"`` first.
``--max-in-flight`` bounds the tasks in the cluster at once; each refill is one ``sbatch``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nas.controller import Budget, Controller  # noqa: E402
from nas.evaluators import TableEvaluator  # noqa: E402
from nas.records import content_hash  # noqa: E402
from nas.spaces import NB201Space  # noqa: E402
from nas.strategies.registry import create  # noqa: E402
from slurm import make_executor  # noqa: E402
from store.result_store import LocalResultStore  # noqa: E402


class CellStrings(NB201Space):
    """NAS-Bench-201 with every cell string its own candidate (15,625 members, all in the
    table): the isomorphism classes (6,466) are too few for a 10,000-candidate run."""

    def arch_hash(self, arch: str) -> str:
        return content_hash(arch)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=500)
    ap.add_argument("--strategy", default="random")
    ap.add_argument("--executor", default="inprocess")
    ap.add_argument("--max-in-flight", type=int, default=8)
    ap.add_argument("--pack", type=int, default=1)
    ap.add_argument("--snapshot-every", type=int, default=50)
    ap.add_argument("--poll-interval", type=float, default=1.0, help="executor/controller poll (s)")
    ap.add_argument("--table", default=str(REPO.parent / "shared" / "data" / "nb201.parquet"))
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--restarts", type=int, default=3, help="restarts of the finished run timed")
    ap.add_argument("--restart-only", default="", metavar="ROOT",
                    help="only time restarts of the finished run under ROOT (printed by an "
                         "earlier call)")  # fmt: skip
    a = ap.parse_args()
    evaluator = TableEvaluator(a.table, dataset="cifar10", fidelity=200)
    space = CellStrings()
    if a.restart_only:
        times = _restarts(Path(a.restart_only), a, evaluator, space)
        print(f"restart of the finished run (restore from journal + store; goal <= 5 s): "
              f"{' '.join(f'{x:.2f}' for x in times)} s")  # fmt: skip
        return 0
    root = Path(tempfile.mkdtemp(prefix="bench-controller-"))
    print(f"run root: {root}")
    executor = make_executor(
        a.executor, root / "jobs", None if a.executor == "inprocess" else _site(), pack=a.pack,
        poll_interval_s=a.poll_interval,
    )  # fmt: skip
    strategy = create(a.strategy, rng=np.random.default_rng(0), recipe={"evaluator": "table"},
                      space=space)  # fmt: skip
    windows: list[tuple[int, float, int]] = []  # (results, process CPU s, store files)
    every = max(100, a.candidates // 10)

    def on_result(_c: object, _r: object) -> None:
        n = len(windows) and windows[-1][0]
        done = ctl.state.n_evaluated - len(ctl.in_flight)
        if done - n >= every:
            files = sum(1 for _ in (root / "tables").rglob("*.parquet"))
            windows.append((done, time.process_time(), files))

    ctl = Controller(
        root / "run", "bench", strategy, evaluator, executor, LocalResultStore(root / "tables"),
        Budget(a.candidates), max_in_flight=a.max_in_flight, poll_interval_s=a.poll_interval,
        snapshot_every=a.snapshot_every, on_result=on_result,
    )  # fmt: skip
    t0, c0 = time.perf_counter(), time.process_time()
    prof = cProfile.Profile() if a.profile else None
    if prof:
        prof.enable()
    s = ctl.run()
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(s.state.with_result())
    files = sum(1 for _ in (root / "tables").rglob("*.parquet"))
    restarts = _restarts(root, a, evaluator, space)
    best = s.state.best()
    print(f"strategy={a.strategy} executor={a.executor} candidates={n} reason={s.reason}")
    print(f"wall {wall:.2f} s; controller overhead {1000 * s.overhead_s / n:.2f} ms/candidate "
          f"(goal <= 20 ms); evaluator+wait excluded")  # fmt: skip
    print(f"controller process CPU {cpu:.2f} s ({1000 * cpu / n:.2f} ms/candidate, everything "
          f"this process did incl. polling; sbatch/sacct children excluded)")  # fmt: skip
    print(f"journal fsyncs {s.journal_syncs} ({s.journal_syncs / n:.2f}/candidate); "
          f"store files {files}; best val {float(best[1]['val_acc']) if best else 0:.4f}")  # fmt: skip
    print(f"restart of the finished run (restore from journal + store; goal <= 5 s): "
          f"{' '.join(f'{x:.2f}' for x in restarts)} s")  # fmt: skip
    if windows:
        prev_n, prev_t = 0, c0
        per = []
        for n_done, t, _files in windows:
            per.append(1000 * (t - prev_t) / max(1, n_done - prev_n))
            prev_n, prev_t = n_done, t
        print("process CPU ms/candidate per window of "
              f"{every}: " + " ".join(f"{x:.1f}" for x in per))  # fmt: skip
        print(
            f"store files during the run: max {max(f for _, _, f in windows)}; at the end {files}"
        )
    stats = getattr(executor, "stats", None)
    if callable(stats):
        print(f"executor stats: {stats()}")
    return 0


def _restarts(
    root: Path, a: argparse.Namespace, evaluator: TableEvaluator, space: CellStrings
) -> list[float]:
    """Seconds of each of ``a.restarts`` restarts of the finished run under ``root``: a
    restart reopens the journal and the store, nothing else."""
    out: list[float] = []
    for _ in range(a.restarts):
        t1 = time.perf_counter()
        s = Controller(
            root / "run", "bench", create(a.strategy, rng=np.random.default_rng(0),
                                          recipe={"evaluator": "table"}, space=space),
            evaluator, make_executor("inprocess", root / "jobs"), LocalResultStore(root / "tables"),
            Budget(a.candidates),
        ).run()  # fmt: skip
        out.append(time.perf_counter() - t1)
        assert s.reason == "done", s.reason
    return out


def _site() -> object:
    from slurm import SiteParams

    return SiteParams(time="5", cpus_per_task=1, mem="100M", signal_delay_s=30)


if __name__ == "__main__":
    raise SystemExit(main())
