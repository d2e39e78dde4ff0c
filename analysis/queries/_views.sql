-- Helper views every named query builds on (installed by analysis.queries.install_views).
-- One row per evaluated candidate (its latest attempt), joined with the candidate.

CREATE OR REPLACE TEMP VIEW candidate_rows AS
SELECT *
FROM candidates
QUALIFY row_number() OVER (PARTITION BY run_id, candidate_id ORDER BY created_at DESC) = 1;

CREATE OR REPLACE TEMP VIEW trial_results AS
WITH latest AS (
    SELECT *
    FROM trials
    QUALIFY row_number() OVER (
        PARTITION BY run_id, candidate_id ORDER BY attempt DESC, finished_at DESC
    ) = 1
)
SELECT
    t.run_id,
    t.candidate_id,
    c.arch_kind,
    c.arch,
    c.recipe,
    c.seed,
    c.parents,
    coalesce(nullif(c.origin_strategy, ''), 'unknown') AS strategy,
    coalesce(nullif(c.origin_agent, ''), 'unknown') AS agent,
    coalesce(c.origin_suggestion, '') AS suggestion,
    coalesce(c.origin_prompt, '') AS prompt,
    t.state,
    t.state = 'COMPLETE' AS ok,
    t.val_acc,
    t.test_acc,
    t.train_acc,
    t.params,
    t.flops,
    t.macs,
    t.wall_seconds,
    t.gpu_seconds,
    coalesce(t.llm_tokens_in, 0) AS llm_tokens_in,
    coalesce(t.llm_tokens_out, 0) AS llm_tokens_out,
    coalesce(t.llm_cost_usd, 0) AS llm_cost_usd,
    t.epochs_run,
    coalesce(t.error, '') AS error,
    t.attempt,
    t.evaluator,
    t.started_at,
    t.finished_at,
    row_number() OVER (
        PARTITION BY t.run_id ORDER BY t.finished_at, c.created_at, t.candidate_id
    ) AS eval_index
FROM latest t
LEFT JOIN candidate_rows c ON c.run_id = t.run_id AND c.candidate_id = t.candidate_id;

-- The incumbent after each evaluation: best validation accuracy so far, and the test
-- accuracy of the candidate that holds it (selected on validation, reported on test).
CREATE OR REPLACE TEMP VIEW best_so_far_curve AS
WITH scored AS (
    SELECT
        *,
        CASE WHEN ok THEN val_acc END AS score
    FROM trial_results
),
running AS (
    SELECT
        *,
        max(score) OVER w AS best_val,
        arg_max(test_acc, score) OVER w AS best_test,
        arg_max(candidate_id, score) OVER w AS best_candidate_id,
        max(score) OVER (
            PARTITION BY run_id ORDER BY eval_index ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS prev_best
    FROM scored
    WINDOW w AS (PARTITION BY run_id ORDER BY eval_index ROWS UNBOUNDED PRECEDING)
)
SELECT
    run_id,
    eval_index,
    candidate_id,
    strategy,
    agent,
    state,
    val_acc,
    test_acc,
    finished_at,
    best_val,
    best_test,
    best_candidate_id,
    score IS NOT NULL AND (prev_best IS NULL OR score > prev_best) AS is_improvement
FROM running;

-- Fidelity schedule (issue 25): one row per trial that ran under a schedule (`fidelity.kind`
-- asha or hyperband) — the epochs its result stands for, whether it was stopped at a rung
-- (PRUNED), and the GPU-seconds a stopped one did not spend (its GPU-seconds per epoch times
-- the epochs it skipped; an estimate). The rung decisions are `events` rows of kind 'rung'.
CREATE OR REPLACE TEMP VIEW fidelity AS
SELECT
    run_id,
    candidate_id,
    state,
    state = 'PRUNED' AS pruned,
    fidelity_epochs,
    fidelity_max,
    val_acc,
    gpu_seconds,
    CASE
        WHEN state = 'PRUNED' AND fidelity_epochs > 0
        THEN gpu_seconds * (fidelity_max - fidelity_epochs) / fidelity_epochs
        ELSE 0.0
    END AS gpu_seconds_saved
FROM trials
WHERE fidelity_max IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY run_id, candidate_id ORDER BY attempt DESC, finished_at DESC
) = 1;
