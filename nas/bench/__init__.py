"""Benchmark protocols over tabular benchmarks (in-process; see ``nb201`` for the protocol)."""

from nas.bench.nb201 import (
    DEFAULT_SOURCE,
    OPTIMUM_DEFINITION,
    PUBLISHED,
    STRATEGIES,
    BenchResult,
    SeedResult,
    make_strategy,
    run_bench,
    run_trajectory,
    source_task,
    summarize,
)

__all__ = [
    "DEFAULT_SOURCE",
    "OPTIMUM_DEFINITION",
    "PUBLISHED",
    "STRATEGIES",
    "BenchResult",
    "SeedResult",
    "make_strategy",
    "run_bench",
    "run_trajectory",
    "source_task",
    "summarize",
]
