"""Benchmark protocols over tabular benchmarks (in-process; see ``nb201`` for the protocol)."""

from nas.bench.nb201 import (
    BEST_VAL_DEFINITION,
    DEFAULT_SOURCE,
    OPTIMUM_DEFINITION,
    PROTOCOLS,
    PUBLISHED,
    STRATEGIES,
    BenchResult,
    SeedResult,
    StrategyMaker,
    run_bench,
    run_trajectory,
    source_task,
    summarize,
)

__all__ = [
    "BEST_VAL_DEFINITION",
    "DEFAULT_SOURCE",
    "OPTIMUM_DEFINITION",
    "PROTOCOLS",
    "PUBLISHED",
    "STRATEGIES",
    "BenchResult",
    "SeedResult",
    "StrategyMaker",
    "run_bench",
    "run_trajectory",
    "source_task",
    "summarize",
]
