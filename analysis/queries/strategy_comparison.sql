-- strategy_comparison: one row per run and proposing strategy (run it over several runs:
-- archlab report RUN --compare RUN2 ...): best validation accuracy with its test accuracy,
-- evaluations needed to reach it, failure rate, GPU hours and LLM dollars.
WITH ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY run_id, strategy ORDER BY ok DESC, val_acc DESC NULLS LAST
        ) AS r
    FROM trial_results
),
calls AS (
    SELECT run_id, sum(coalesce(cost_usd, 0)) AS usd, sum(coalesce(tokens_in, 0) + coalesce(tokens_out, 0)) AS tokens
    FROM llm_calls
    GROUP BY run_id
)
SELECT
    x.run_id,
    x.strategy,
    count(*) AS evaluated,
    count(*) FILTER (WHERE x.ok) AS complete,
    round(count(*) FILTER (WHERE NOT x.ok) / count(*), 3) AS failure_rate,
    round(max(x.val_acc) FILTER (WHERE x.ok), 4) AS best_val,
    round(any_value(x.test_acc) FILTER (WHERE x.r = 1 AND x.ok), 4) AS test_at_best_val,
    any_value(x.eval_index) FILTER (WHERE x.r = 1 AND x.ok) AS eval_of_best,
    round(median(x.val_acc) FILTER (WHERE x.ok), 4) AS median_val,
    round(sum(coalesce(x.gpu_seconds, 0)) / 3600, 3) AS gpu_hours,
    round(sum(x.llm_cost_usd), 4) AS trial_llm_usd,
    round(any_value(c.usd), 4) AS run_llm_usd,
    any_value(c.tokens) AS run_llm_tokens
FROM ranked x
LEFT JOIN calls c USING (run_id)
GROUP BY x.run_id, x.strategy
ORDER BY best_val DESC NULLS LAST, x.run_id, x.strategy;
