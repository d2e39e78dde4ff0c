-- llm_cost_per_improvement: for each new incumbent, the LLM tokens and dollars spent since
-- the previous one and in total. Spending is counted from llm_calls up to the moment the
-- improving result arrived; runs without llm_calls fall back to the per-trial LLM cost.
WITH has_calls AS (
    SELECT run_id, count(*) > 0 AS any_calls FROM llm_calls GROUP BY run_id
),
spend AS (
    SELECT
        b.run_id,
        b.eval_index,
        b.candidate_id,
        b.best_val,
        b.finished_at,
        sum(t.llm_tokens_in + t.llm_tokens_out) OVER w AS trial_tokens,
        sum(t.llm_cost_usd) OVER w AS trial_usd,
        b.is_improvement
    FROM best_so_far_curve b
    JOIN trial_results t USING (run_id, candidate_id)
    WINDOW w AS (PARTITION BY b.run_id ORDER BY b.eval_index ROWS UNBOUNDED PRECEDING)
),
improvements AS (
    SELECT
        s.*,
        coalesce(h.any_calls, false) AS any_calls,
        (
            SELECT sum(coalesce(c.tokens_in, 0) + coalesce(c.tokens_out, 0))
            FROM llm_calls c
            WHERE c.run_id = s.run_id AND c.created_at <= s.finished_at
        ) AS call_tokens,
        (
            SELECT sum(coalesce(c.cost_usd, 0))
            FROM llm_calls c
            WHERE c.run_id = s.run_id AND c.created_at <= s.finished_at
        ) AS call_usd
    FROM spend s
    LEFT JOIN has_calls h USING (run_id)
    WHERE s.is_improvement
),
totals AS (
    SELECT
        run_id,
        eval_index,
        candidate_id,
        best_val,
        finished_at,
        CASE WHEN any_calls THEN coalesce(call_tokens, 0) ELSE trial_tokens END AS cum_tokens,
        CASE WHEN any_calls THEN coalesce(call_usd, 0) ELSE trial_usd END AS cum_usd
    FROM improvements
)
SELECT
    run_id,
    row_number() OVER (PARTITION BY run_id ORDER BY eval_index) AS improvement,
    eval_index,
    candidate_id,
    round(best_val, 4) AS best_val,
    round(best_val - coalesce(lag(best_val) OVER p, 0), 4) AS gain,
    cum_tokens - coalesce(lag(cum_tokens) OVER p, 0) AS tokens_since_previous,
    round(cum_usd - coalesce(lag(cum_usd) OVER p, 0), 4) AS usd_since_previous,
    cum_tokens,
    round(cum_usd, 4) AS cum_usd,
    finished_at
FROM totals
WINDOW p AS (PARTITION BY run_id ORDER BY eval_index)
ORDER BY run_id, eval_index;
