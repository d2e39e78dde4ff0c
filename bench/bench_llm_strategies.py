"""LAPT and LLMatic with a real LLM on NAS-Bench-201 (table evaluator), issue #14 item 3.

Runs, through the real ``openai`` client (:class:`nas.llm.LLMClient`) against an
OpenAI-compatible endpoint (e.g. a local llama-cpp-python server):

a) LAPT with the LLM principle learner (``LLMPrincipleLearner``): principles learned from the
   source task's top architectures (ImageNet16-120, 200-epoch validation), REA searches the
   refined space on the CIFAR-10 and CIFAR-100 targets; per seed ``evals_to_best_val`` (the
   1-based evaluation at which the space's best-validation cell is first evaluated; a miss
   counts at the budget) and the test accuracy of the validation-selected cell — beside the
   offline statistical learner for the same seeds and settings.
b) LLMatic with the LLM operators (mutation and crossover through the model): best val/test
   of the selected cell, niches filled, how many answers parsed into a new valid cell, a
   duplicate, or failed (fallback), tokens.

Honest sharing across seeds: the LLM learner samples at ``--lapt-temperature`` (default 0,
greedy). A prompt identical to one already answered at temperature 0 (LAPT's first prompt is
the same for every seed and target: it reads only the source task) is answered from the
memo of this run instead of calling the model again; the results say how many calls were
shared. Every live exchange is recorded in a cassette (``--cassette``) so the whole bench can
be replayed offline (``--mode replay``) without the model.

A LAPT run stops early once the space's best-validation cell has been evaluated: from then on
the validation-selected cell is that cell, so neither figure can change within the budget.

    python bench/bench_llm_strategies.py --table ../shared/data/nb201.parquet \
        --base-url http://127.0.0.1:8791/v1 --model qwen2.5-coder-1.5b-instruct-q4_k_m
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from launcher.build import bench_strategy  # noqa: E402
from nas.bench.nb201 import run_bench, source_task, summarize  # noqa: E402
from nas.evaluators.table import BenchmarkTable, TableEvaluator, load_table  # noqa: E402
from nas.llm import LLMClient  # noqa: E402
from nas.llm.cassette import Cassette  # noqa: E402
from nas.llm.config import LLMConfig  # noqa: E402
from nas.llm.structured import STRUCTURED_MODES  # noqa: E402
from nas.prompts.parsers import PromptParseError  # noqa: E402
from nas.prompts.strategy_parsers import parse_network_answer  # noqa: E402
from nas.records import Candidate, TrialRecord  # noqa: E402
from nas.spaces.nb201 import NB201Space  # noqa: E402
from nas.strategies.lapt import LAPT  # noqa: E402
from nas.strategies.llm import CompletionError, LLMCompletion  # noqa: E402
from nas.strategies.llmatic import LLMatic, LlmaticConfig  # noqa: E402
from nas.strategies.operators import MUTATION_ANSWERS, LLMOperators  # noqa: E402
from nas.strategies.principles import LLMPrincipleLearner, StatisticalPrincipleLearner  # noqa: E402

OUT = ROOT / "bench" / "results"
NADER_TOKENS_PER_ARCH = 12_700  # NADER's reported tokens per trained architecture
GOAL_TOKENS_PER_ARCH = 6_000  # P5 goal


@dataclass
class CallLog:
    """Every ``llm_calls`` row of the client, tagged with the bench part that made it."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    tag: str = ""

    def sink(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.rows.append({**r, "tag": self.tag})

    def of(self, prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if str(r["tag"]).startswith(prefix)]


class ReplayFirst:
    """``complete(prompt, temperature)`` that serves a temperature-0 prompt from the cassette
    when it was already recorded (counted in ``replayed``), else calls the model live
    (``live``, recorded). Sampled calls (temperature > 0) always go live. ``answers`` keeps
    every (prompt ref, answer) used, in order."""

    def __init__(self, replay: LLMCompletion | None, live: LLMCompletion) -> None:
        self.replay = replay
        self.live = live
        self.replayed = 0
        self.answers: list[tuple[str, str]] = []

    def __call__(self, prompt: str, temperature: float) -> str:
        ref = str(getattr(prompt, "ref", ""))
        ans: str | None = None
        if self.replay is not None and temperature == 0.0:
            try:
                ans = self.replay(prompt, temperature)
                self.replayed += 1
            except CompletionError as e:
                if e.kind != "cassette_miss":
                    raise
        if ans is None:
            ans = self.live(prompt, temperature)
        self.answers.append((ref, ans))
        return ans


def call_stats(rows: Sequence[dict[str, Any]], price_in: float, price_out: float) -> dict[str, Any]:
    """Totals over every answer a part used; ``live_*`` over the calls the model really
    served in this run (replayed answers were recorded earlier, their tokens counted again
    in the totals: a run that could not replay would pay them)."""
    live = [r for r in rows if not r["cache_hit"]]
    tin = sum(int(r["tokens_in"]) for r in rows)
    tout = sum(int(r["tokens_out"]) for r in rows)
    lat = [float(r["latency_s"]) for r in live]
    return {
        "calls": len(rows),
        "live_calls": len(live),
        "replayed_calls": len(rows) - len(live),
        "failed_calls": sum(r["status"] != "ok" for r in rows),
        "statuses": dict(Counter(str(r["status"]) for r in rows)),
        "tokens_in": tin,
        "tokens_out": tout,
        "live_tokens_in": sum(int(r["tokens_in"]) for r in live),
        "live_tokens_out": sum(int(r["tokens_out"]) for r in live),
        "wall_s_total": sum(lat),
        "wall_s_per_call_mean": float(np.mean(lat)) if lat else math.nan,
        "wall_s_per_call_max": max(lat) if lat else math.nan,
        "usd_equivalent": (tin * price_in + tout * price_out) / 1e6,
    }


def lapt_seed(
    table: BenchmarkTable,
    target: str,
    seed: int,
    complete: ReplayFirst,
    budget: int,
    temperature: float,
    evidence_floor: bool = True,
) -> dict[str, Any]:
    space = NB201Space()
    learner = LLMPrincipleLearner(
        complete,
        temperature=temperature,
        fallback=StatisticalPrincipleLearner(),
        evidence_floor=evidence_floor,
    )
    src = source_task(table, "imagenet16", 200)
    # the learner is this script's replaying LLM learner: built here, not from a config
    strat = LAPT(source=src, space=space, learner=learner, rng=np.random.default_rng(seed),
                 seed=seed)  # fmt: skip
    ev = TableEvaluator(table, target, 200)
    best_val_hash = space.arch_hash(table.argmax(target, 200, "val"))
    optimum_hash = space.arch_hash(table.argmax(target, 200, "test"))
    traj: list[tuple[Candidate, TrialRecord]] = []
    stopped = "budget"
    while len(traj) < budget:
        cands = strat.ask(1)
        if not cands:
            stopped = "no proposal"
            break
        c = cands[0]
        r = ev(c)
        traj.append((c, r))
        if c.arch_hash == best_val_hash:
            stopped = "best-val cell reached"
            break
        if len(traj) < budget:  # the last result is not told: no proposal follows it, so
            strat.tell([(c, r)])  # no adaptation call is spent after the budget
    res = summarize(traj, budget, seed, ev, best_val_hash, optimum_hash)
    events = [p for k, p in strat.pop_events(final=True) if k == "principles"]

    def holds_best_val(candidates: dict[str, list[str]]) -> bool:
        """Whether the refined space holds the target's best-validation cell or an isomorph."""
        allowed = [frozenset(candidates[p.name]) for p in space.positions]
        return any(space.arch_hash(a) == best_val_hash for a in space.enumerate(allowed))

    return {
        **asdict(res),
        "stopped": stopped,
        "principle_steps": [
            {
                "iteration": e["iteration"],
                "source": e["source"],
                "learner": e["learner"],
                "space_size": e["space_size"],
                "note": e["note"],
                "holds_best_val": holds_best_val(e["candidates"]),
            }
            for e in events
        ],
        "llm_fallbacks": list(learner.failures),
        "origins": dict(Counter(c.origin.agent for c, _ in traj)),
    }


def run_lapt(
    table: BenchmarkTable,
    live: LLMClient,
    replay: LLMClient | None,
    log: CallLog,
    seeds: Sequence[int],
    targets: Sequence[str],
    budget: int,
    temperature: float,
    max_tokens: int | None,
    say: Callable[[str], None],
    evidence_floor: bool = True,
) -> dict[str, Any]:
    shared = ReplayFirst(
        None if replay is None else LLMCompletion(replay, "lapt", max_tokens=max_tokens),
        LLMCompletion(live, "lapt", max_tokens=max_tokens),
    )
    out: dict[str, Any] = {"targets": {}}
    for target in targets:
        per_seed = []
        for seed in seeds:
            log.tag = f"lapt/{target}/{seed}"
            t0 = time.perf_counter()
            r = lapt_seed(table, target, seed, shared, budget, temperature, evidence_floor)
            r["wall_s"] = time.perf_counter() - t0
            r["llm_calls"] = len(log.of(log.tag))
            per_seed.append(r)
            say(
                f"lapt {target} seed {seed}: evals_to_best_val={r['evals_to_best_val']} "
                f"test={r['test_acc']:.4f} calls={r['llm_calls']} fallbacks="
                f"{len(r['llm_fallbacks'])} ({r['wall_s']:.0f} s)"
            )
        offline = run_bench(
            table, "lapt", target, [budget], list(seeds), source="imagenet16", make=bench_strategy
        )[0]
        out["targets"][target] = {"llm": per_seed, "offline": offline.to_dict()}
    out["replayed_answers"] = shared.replayed
    out["answers"] = shared.answers
    return out


def classify_llmatic_answers(answers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Per LLM answer: parsed into a cell, or the parse error's reason. Edit answers
    (template ``llmatic_edit``) are counted apart: ``edit_parsed`` / ``edit_unparsed:<reason>``
    (their parent is not in the answer; :func:`llmatic_answer_stats` counts them usable)."""
    space = NB201Space()
    kinds: Counter[str] = Counter()
    for ref, ans in answers:
        if ref.startswith("llmatic_edit@"):
            kinds["edit_answers"] += 1
            continue
        try:
            parse_network_answer(ans, space)
            kinds["parsed"] += 1
        except PromptParseError as e:
            kinds[f"unparsed:{e.reason}"] += 1
    return dict(kinds)


def fallback_reason(failure: str) -> str:
    """A short reason for one of LLMatic's ``operator_failures`` lines."""
    if "already proposed" in failure:
        return "answers repeated proposed cells"
    if "no unproposed cell" in failure:
        return "no unproposed cell within two edits"
    if "LLM budget spent" in failure:
        return "LLM budget spent"
    if "LLM call failed" in failure:
        return "LLM call failed"
    return "unusable answer"


def llmatic_answer_stats(ops: LLMOperators, strat: LLMatic, answers: int) -> dict[str, Any]:
    """Usable answers (a cell came out), repeats (usable, but the cell was proposed before),
    crossover re-asks, and operator fallbacks with their reasons, from the operators' and
    the strategy's records."""
    unusable = [f for f in strat.operator_failures if fallback_reason(f) == "unusable answer"]
    called = [f for f in strat.operator_failures if fallback_reason(f) == "LLM call failed"]
    reasons = Counter(fallback_reason(f) for f in strat.operator_failures)
    return {
        "answers": answers,
        "usable": answers - len(unusable) - len(called),
        "repeats": ops.repeats,
        "reasks": len(ops.reasks),
        "fallbacks": sum(reasons.values()),
        "fallback_reasons": dict(reasons),
        "mutation_answer": ops.mutation_answer,
        "crossover_reask": ops.crossover_reask,
    }


def run_llmatic(
    table: BenchmarkTable,
    client: LLMClient,
    log: CallLog,
    seeds: Sequence[int],
    budget: int,
    max_tokens: int | None,
    say: Callable[[str], None],
    wall_s: float = 0.0,
    mutation_answer: str = "cell",
    crossover_reask: bool = False,
) -> dict[str, Any]:
    per_seed = []
    for seed in seeds:
        log.tag = f"llmatic/cifar10/{seed}"
        completion = LLMCompletion(client, "llmatic", max_tokens=max_tokens)
        recorder = ReplayFirst(None, completion)  # sampled calls: always the client's mode
        ops = LLMOperators(recorder, mutation_answer, crossover_reask)
        # the operators replay this script's cassette: built here, not from a config
        strat = LLMatic(operators=ops, rng=np.random.default_rng(seed), seed=seed)
        ev = TableEvaluator(table, "cifar10", 200)
        space = NB201Space()
        bv = space.arch_hash(table.argmax("cifar10", 200, "val"))
        opt = space.arch_hash(table.argmax("cifar10", 200, "test"))
        traj: list[tuple[Candidate, TrialRecord]] = []
        t0 = time.perf_counter()
        stopped = "budget"
        while len(traj) < budget:
            if wall_s and time.perf_counter() - t0 > wall_s:
                stopped = f"wall-clock limit {wall_s:.0f} s"
                break
            cands = strat.ask(1)
            if not cands:
                break
            c = cands[0]
            r = ev(c)
            strat.tell([(c, r)])
            traj.append((c, r))
            if len(traj) % 10 == 0:
                say(f"llmatic seed {seed}: {len(traj)} evaluations, {completion.calls} calls")
        res = summarize(traj, budget, seed, ev, bv, opt)
        variation = [p for k, p in strat.pop_events(final=True) if k == "variation"]
        answers = classify_llmatic_answers(recorder.answers)
        # parsed answers that became a candidate (the rest repeated a proposed cell, or were
        # an intermediate step of a two-step variation)
        answers["parsed_new_candidate"] = sum(
            c.origin.agent.startswith("llm-operators:") for c, _ in traj
        )
        designed = sum(
            not c.origin.agent.startswith(("random-init", "random-fallback")) for c, _ in traj
        )
        r = {
            **asdict(res),
            "wall_s": time.perf_counter() - t0,
            "stopped": stopped,
            "variation": variation[-1] if variation else {},
            "answers": answers,
            "llm_answers": len(recorder.answers),
            "answer_stats": llmatic_answer_stats(ops, strat, len(recorder.answers)),
            "operator_failures": list(strat.operator_failures),
            "origins": dict(Counter(c.origin.agent for c, _ in traj)),
            "designed": designed,
            "raw_answers": recorder.answers,
        }
        per_seed.append(r)
        say(
            f"llmatic seed {seed}: val={res.val_acc:.4f} test={res.test_acc:.4f} "
            f"answers={answers} ({r['wall_s']:.0f} s)"
        )
    return {"seeds": per_seed}


def _fmt(x: float | None, nd: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def write_markdown(res: dict[str, Any], path: Path) -> str:
    cfg = dict(res["config"])
    for part in ("lapt", "llmatic"):  # each part's own settings (parts may run separately)
        cfg.update(res.get(part, {}).get("config", {}))
    L: list[str] = ["# LAPT and LLMatic with a real local LLM (NAS-Bench-201 table)", ""]
    L.append(
        f"Model `{cfg['model']}` ({cfg['model_note']}) at `{cfg['base_url']}` through the real "
        f"`openai` client; machine: {cfg['machine']}. Prices: {cfg['price_note']}."
    )
    L.append("")
    L += [f"Command: `{c}`" for c in cfg.get("commands", [cfg["command"]])]
    L.append("")
    lapt = res.get("lapt")
    if lapt:
        L += ["## LAPT (LLM principle learner vs offline statistical learner)", ""]
        L.append(
            f"Source ImageNet16-120 (200-epoch validation, top-50), REA inside the refined "
            f"space (population 10, tournament 3, adaptation every 10), budget "
            f"{cfg['lapt_budget']} evaluations, seeds {cfg['seeds']}, LLM learner temperature "
            f"{cfg['lapt_temperature']}, max_tokens {cfg['lapt_max_tokens'] or 'none'}. "
            f"`evals_to_best_val`: evaluation at which the space's best-validation cell was "
            f"first evaluated (a miss counts at the budget). A run stops once it is reached "
            f"(nothing after it can change either figure). Temperature-0 prompts already "
            f"recorded were replayed from the cassette instead of asked again (LAPT's first "
            f"prompt is identical for every seed and target: it reads only the source task): "
            f"{lapt['replayed_answers']} answers replayed. The last evaluation of a budget is "
            f"not told (no proposal follows it), so no adaptation call is made after it."
        )
        L.append("")
        L.append(
            "| target | learner | refined space holds the best-val cell (seeds) | "
            "evals_to_best_val mean (reached) | per seed | test acc of "
            "selected cell (%) | LLM calls | fallbacks |"
        )
        L.append("|---|---|---|---|---|---|---|---|")
        for target, t in lapt["targets"].items():
            llm = t["llm"]
            to_bv = [s["evals_to_best_val"] or s["evaluations"] for s in llm]
            reached = sum(s["evals_to_best_val"] is not None for s in llm)
            tests = [100 * s["test_acc"] for s in llm]
            held = sum(any(p.get("holds_best_val", False) for p in s["principle_steps"])
                       for s in llm)  # fmt: skip
            L.append(
                f"| {target} | LLM | {held}/{len(llm)} | {np.mean(to_bv):.1f} ({reached}/{len(llm)}) | "
                f"{', '.join(str(s['evals_to_best_val'] or str(s['evaluations']) + '*') for s in llm)}"
                f" | {np.mean(tests):.2f} ± {np.std(tests, ddof=1) if len(tests) > 1 else 0:.2f} | "
                f"{sum(s['llm_calls'] for s in llm)} | "
                f"{sum(len(s['llm_fallbacks']) for s in llm)} |"
            )
            off = t["offline"]
            per = [s["evals_to_best_val"] or str(s["evaluations"]) + "*" for s in off["seeds"]]
            L.append(
                f"| {target} | offline | — | {_fmt(off['evals_to_best_val_mean'])} "
                f"({off['best_val_reached']}/{len(off['seeds'])}) | "
                f"{', '.join(str(p) for p in per)} | {100 * off['test_acc_mean']:.2f} ± "
                f"{100 * off['test_acc_std']:.2f} | 0 | — |"
            )
        L.append("")
        L.append("`*` = missed within the budget (counted at the budget).")
        L.append("")
        L.append(
            "Principle steps per seed (iteration: source -> learner, refined-space size; "
            "whether it holds the target's best-validation cell or an isomorph of it):"
        )
        L.append("")
        for target, t in lapt["targets"].items():
            for s in t["llm"]:
                steps = "; ".join(
                    f"{p['iteration']}: {p['source']} -> {p['learner']} ({p['space_size']}"
                    + (", holds the best-val cell" if p.get("holds_best_val") else "")
                    + ")"
                    for p in s["principle_steps"]
                )
                L.append(f"- {target} seed {s['seed']}: {steps}")
        fb = [f for t in lapt["targets"].values() for s in t["llm"] for f in s["llm_fallbacks"]]
        if fb:
            L += ["", "Fallbacks (recorded in `Principles.note`):", ""]
            L += [f"- {f[:300]}" for f in fb]
        L.append("")
    llmatic = res.get("llmatic")
    if llmatic:
        L += ["## LLMatic (LLM mutation and crossover)", ""]
        L.append(
            f"CIFAR-10, budget {cfg['llmatic_budget']} evaluations (10 random initial cells; "
            f"stopped by: {', '.join(s['stopped'] for s in llmatic['seeds'])}; evaluations "
            f"made: {', '.join(str(s['evaluations']) for s in llmatic['seeds'])}), "
            f"default settings (20 niches, crossover 0.3), max_tokens "
            f"{cfg['llmatic_max_tokens']}."
        )
        L.append("")
        L.append(
            "| seed | best val (%) | test of selected (%) | niches filled | LLM answers | "
            "parsed | parsed into a new candidate | unparsed (reason) | operator fallbacks | "
            "random fallbacks | evals_to_best_val |"
        )
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for s in llmatic["seeds"]:
            a = s["answers"]
            bad = {k.split(":", 1)[1]: v for k, v in a.items() if k.startswith("unparsed")}
            v = s["variation"]
            n_edit = a.get("edit_answers", 0)
            edits = f" cells + {n_edit} edit answers" if n_edit else ""
            L.append(
                f"| {s['seed']} | {100 * s['val_acc']:.2f} | {100 * s['test_acc']:.2f} | "
                f"{v.get('network_niches_filled', '—')}/{v.get('network_niches', '—')} | "
                f"{s['llm_answers']} | {a.get('parsed', 0)}{edits} | {a.get('parsed_new_candidate', 0)} | "
                f"{', '.join(f'{k} {n}' for k, n in bad.items()) or '0'} | "
                f"{v.get('counts', {}).get('operator-fallback', '—')} | "
                f"{v.get('counts', {}).get('random-fallback', '—')} | "
                f"{s['evals_to_best_val'] or '—'} |"
            )
        L.append("")
        stats = [s for s in llmatic["seeds"] if "answer_stats" in s]
        if stats:
            L.append(
                "| seed | mutation answer | crossover re-ask | LLM answers | usable | repeats | "
                "re-asks | fallback records (reason) |"
            )
            L.append("|---|---|---|---|---|---|---|---|")
            for s in stats:
                st = s["answer_stats"]
                why = ", ".join(f"{k} {n}" for k, n in st["fallback_reasons"].items())
                L.append(
                    f"| {s['seed']} | {st['mutation_answer']} | "
                    f"{'on' if st['crossover_reask'] else 'off'} | {st['answers']} | "
                    f"{st['usable']} | {st['repeats']} | {st['reasks']} | "
                    f"{st['fallbacks']}{f' ({why})' if why else ''} |"
                )
            L.append("")
            L.append(
                "Usable: an answer a cell came out of. Repeats: usable answers whose cell (or an "
                "isomorph) was already proposed. Re-asks: crossover answers that repeated a "
                "proposed cell, asked once more naming it, 0.3 hotter. Fallbacks: the "
                "operator's records (`operator_failures`), by reason. Mutation answer `edit`: "
                "one or two `position: new choice` lines, held to a per-parent grammar that "
                "admits only unproposed cells; `cell`: the whole cell (template llmatic_mutate)."
            )
            L.append("")
        L.append(
            "A parsed answer may still be a cell already proposed: LLMatic then asks again, "
            "at most `operator_tries` (4) LLM calls per proposal, then the rule-based "
            "operator (an operator fallback). Prompts: llmatic_mutate@2 (or llmatic_edit@1) / "
            "llmatic_crossover@2 (re-ask: llmatic_crossover_reask@1)."
        )
        L.append("")
    L += ["## Cost", ""]
    L.append(
        "| part | LLM calls | tokens in | tokens out | wall s per call (mean / max) | "
        "designed architectures | tokens per designed architecture | USD-equivalent |"
    )
    L.append("|---|---|---|---|---|---|---|---|")
    for name, c in res["cost"].items():
        L.append(
            f"| {name} | {c['calls']} ({c['live_calls']} live, {c['replayed_calls']} replayed, "
            f"{c['failed_calls']} failed) | {c['tokens_in']} | "
            f"{c['tokens_out']} | {_fmt(c['wall_s_per_call_mean'])} / "
            f"{_fmt(c['wall_s_per_call_max'])} | {c['designed']} | "
            f"{_fmt(c['tokens_per_designed'], 0)} | {c['usd_equivalent']:.4f} |"
        )
    L.append("")
    L.append(
        f"P5 goal: <= {GOAL_TOKENS_PER_ARCH} tokens per trained architecture; NADER reports "
        f"{NADER_TOKENS_PER_ARCH}. Designed architectures: LAPT = evaluations whose cell came "
        "from an LLM-refined space (every evaluation of a seed whose first principles came "
        "from the LLM); LLMatic = evaluations made by mutation/crossover (random initial "
        "cells and random fallbacks excluded)."
    )
    text = "\n".join(L) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", default="", help="NAS-Bench-201 Parquet (not copied)")
    ap.add_argument(
        "--render", action="store_true", help="only rewrite the .md from the --out .json"
    )
    ap.add_argument("--base-url", default="http://127.0.0.1:8791/v1")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    ap.add_argument(
        "--model-note",
        default="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, llama-cpp-python server, n_ctx 8192, "
        "1 thread, chatml",
    )
    ap.add_argument(
        "--machine",
        default=f"{platform.machine()}, 2 CPU cores shared with other helpers' work (load average 5-10)",
    )
    ap.add_argument("--mode", choices=("record", "replay"), default="record")
    ap.add_argument("--cassette", default=str(OUT / "real_llm_cassette.json"))
    ap.add_argument("--parts", default="lapt,llmatic")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--targets", default="cifar10,cifar100")
    ap.add_argument("--lapt-budget", type=int, default=50)
    ap.add_argument("--lapt-temperature", type=float, default=0.0)
    ap.add_argument("--lapt-max-tokens", type=int, default=0, help="0 = no cap")
    ap.add_argument(
        "--lapt-evidence-floor", choices=("on", "off"), default="on",
        help="the LLM learner's refined space keeps the ops the source evidence supports "
        "(off: the learner as recorded before issue 24)",
    )  # fmt: skip
    ap.add_argument(
        "--structured", choices=STRUCTURED_MODES, default=LLMConfig.structured,
        help="llm.structured: constrained answers (use a fresh --cassette when recording with "
        "them: a cassette recorded without constraints answers the unconstrained requests)",
    )  # fmt: skip
    ap.add_argument("--llmatic-seeds", type=int, default=1)
    ap.add_argument("--llmatic-budget", type=int, default=50)
    ap.add_argument(
        "--llmatic-mutation-answer", choices=MUTATION_ANSWERS,
        default=LlmaticConfig.mutation_answer,
        help="strategy.llmatic.mutation_answer (cell: the whole cell, as the cassettes "
        "recorded before issue 24 item 3 were made)",
    )  # fmt: skip
    ap.add_argument(
        "--llmatic-crossover-reask", choices=("on", "off"),
        default="on" if LlmaticConfig.crossover_reask else "off",
        help="strategy.llmatic.crossover_reask (off for the cassettes recorded before it)",
    )  # fmt: skip
    ap.add_argument("--llmatic-max-tokens", type=int, default=256, help="0 = no cap")
    ap.add_argument(
        "--llmatic-wall-s", type=float, default=0.0, help="stop a seed after this (0 = none)"
    )
    ap.add_argument("--timeout-s", type=float, default=600.0)
    ap.add_argument("--price-in", type=float, default=0.15, help="USD per 1M input tokens")
    ap.add_argument("--price-out", type=float, default=0.60, help="USD per 1M output tokens")
    ap.add_argument(
        "--price-note",
        default="local model, $0 actual; equivalent at gpt-4o-mini's public price "
        "($0.15 / 1M input, $0.60 / 1M output tokens)",
    )
    ap.add_argument("--out", default=str(OUT / "real_llm_strategies"))
    args = ap.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, flush=True)

    out = Path(args.out)
    if args.render:
        res = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
        print(write_markdown(res, out.with_suffix(".md")))
        return 0
    if not args.table:
        ap.error("--table PATH is required (the NAS-Bench-201 Parquet)")
    table = load_table(args.table)
    log = CallLog()
    cassette = Cassette(args.cassette)

    def make_client(mode: str, sink: Callable[[list[dict[str, Any]]], None]) -> LLMClient:
        return LLMClient(
            args.model,
            base_url=args.base_url,
            mode=mode,
            cassette=cassette,
            timeout_s=args.timeout_s,
            max_retries=1,
            max_concurrency=1,
            sink=sink,
            structured=args.structured,
        )

    def replay_sink(rows: list[dict[str, Any]]) -> None:  # misses are not model calls
        log.sink([r for r in rows if r["status"] != "cassette_miss"])

    client = make_client(args.mode, log.sink)
    if args.mode == "record":  # probed first, so the replay-first client finds the outcome
        say(client.probe().summary())  # in the shared cassette and sends the same constraints
    replay = make_client("replay", replay_sink) if args.mode == "record" else None
    parts = args.parts.split(",")
    seeds = list(range(args.seeds))
    res: dict[str, Any] = {
        "config": {
            "model": args.model,
            "model_note": args.model_note,
            "base_url": args.base_url,
            "machine": args.machine,
            "mode": args.mode,
            "cassette": str(Path(args.cassette).resolve().relative_to(ROOT))
            if Path(args.cassette).resolve().is_relative_to(ROOT)
            else args.cassette,
            "seeds": seeds,
            "lapt_budget": args.lapt_budget,
            "lapt_temperature": args.lapt_temperature,
            "lapt_max_tokens": args.lapt_max_tokens,
            "lapt_evidence_floor": args.lapt_evidence_floor,
            "structured": args.structured,
            "llmatic_budget": args.llmatic_budget,
            "llmatic_max_tokens": args.llmatic_max_tokens,
            "llmatic_mutation_answer": args.llmatic_mutation_answer,
            "llmatic_crossover_reask": args.llmatic_crossover_reask,
            "timeout_s": args.timeout_s,
            "price_in_per_m": args.price_in,
            "price_out_per_m": args.price_out,
            "price_note": args.price_note,
            "command": "python bench/bench_llm_strategies.py " + " ".join(sys.argv[1:]),
        }
    }
    cost: dict[str, Any] = {}
    if "lapt" in parts:
        lapt = run_lapt(
            table,
            client,
            replay,
            log,
            seeds,
            args.targets.split(","),
            args.lapt_budget,
            args.lapt_temperature,
            args.lapt_max_tokens or None,
            say,
            args.lapt_evidence_floor == "on",
        )
        lapt["config"] = {
            k: res["config"][k] for k in ("lapt_budget", "lapt_temperature", "lapt_max_tokens")
        }
        res["lapt"] = lapt
        c = call_stats(log.of("lapt/"), args.price_in, args.price_out)
        c["designed"] = sum(
            s["evaluations"]
            for t in lapt["targets"].values()
            for s in t["llm"]
            if s["principle_steps"]
            and s["principle_steps"][0]["learner"] == "llm-principle-learner"
        )
        c["tokens_per_designed"] = (
            (c["tokens_in"] + c["tokens_out"]) / c["designed"] if c["designed"] else None
        )
        cost["LAPT"] = c
    if "llmatic" in parts:
        llmatic = run_llmatic(
            table,
            client,
            log,
            list(range(args.llmatic_seeds)),
            args.llmatic_budget,
            args.llmatic_max_tokens or None,
            say,
            args.llmatic_wall_s,
            args.llmatic_mutation_answer,
            args.llmatic_crossover_reask == "on",
        )
        llmatic["config"] = {
            k: res["config"][k] for k in ("llmatic_budget", "llmatic_max_tokens", "timeout_s")
        }
        res["llmatic"] = llmatic
        c = call_stats(log.of("llmatic/"), args.price_in, args.price_out)
        c["designed"] = sum(s["designed"] for s in llmatic["seeds"])
        c["tokens_per_designed"] = (
            (c["tokens_in"] + c["tokens_out"]) / c["designed"] if c["designed"] else None
        )
        cost["LLMatic"] = c
    old_path = out.with_suffix(".json")
    if old_path.exists():  # a run of some parts keeps the other parts' results
        old = json.loads(old_path.read_text(encoding="utf-8"))
        for part, key in (("lapt", "LAPT"), ("llmatic", "LLMatic")):
            if part not in parts and part in old:
                res[part] = old[part]
                cost[key] = old["cost"][key]
                res["config"]["commands"] = old["config"].get("commands", [])
        log.rows[:0] = [r for r in old.get("llm_calls", []) if r["tag"].split("/")[0] not in parts]
    res["config"].setdefault("commands", []).append(res["config"]["command"])
    res["cost"] = cost
    res["llm_calls"] = log.rows
    out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")
    print(write_markdown(res, out.with_suffix(".md")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
