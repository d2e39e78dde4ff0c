"""The array task's entry point: ``python -m slurm.worker FOLDER`` runs submitit's worker.

Same as ``python -m submitit.core._submit FOLDER`` (same pickles, signals, requeue) minus
one thing: submitit imports numpy before unpickling "to avoid unexpected interactions",
which doubles the start-up cost of a short task (0.1 s -> 0.2 s CPU); here numpy is
imported only by the calls that use it.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m slurm.worker FOLDER")
    had_numpy = "numpy" in sys.modules
    if not had_numpy:
        sys.modules["numpy"] = None  # type: ignore[assignment]  # makes `import numpy` fail fast
    try:
        from submitit.core.submission import process_job
    finally:
        if not had_numpy:
            del sys.modules["numpy"]  # later imports find the real numpy
    process_job(args[0])


if __name__ == "__main__":
    main()
