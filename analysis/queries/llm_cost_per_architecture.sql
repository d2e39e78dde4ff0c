-- llm_cost_per_architecture: LLM tokens and dollars per trained architecture, the paper's
-- cost figure (NADER reports 12.7K tokens and $0.046 per architecture). One row per trained
-- candidate (not pre-decided INVALID/DUPLICATE designs): the requests that named it in
-- llm_calls (its proposal step: the research reflection on earlier results, proposer,
-- modifier with repairs and derive, develop reflection, embeddings), and the run's totals
-- divided by the number of trained architectures (every request, failed attempts and the
-- calls of designs that were never trained included). trial_tokens is what its trial record
-- carries (the same requests when the controller adds the strategy's llm_cost_of).
WITH calls AS (
    SELECT
        run_id,
        candidate_id,
        count(*) AS requests,
        sum(coalesce(tokens_in, 0)) AS tokens_in,
        sum(coalesce(tokens_out, 0)) AS tokens_out,
        sum(coalesce(cost_usd, 0)) AS usd
    FROM llm_calls
    GROUP BY run_id, candidate_id
),
run_totals AS (
    SELECT
        run_id,
        count(*) AS run_requests,
        sum(coalesce(tokens_in, 0) + coalesce(tokens_out, 0)) AS run_tokens,
        sum(coalesce(cost_usd, 0)) AS run_usd,
        count(*) FILTER (WHERE candidate_id IS NULL) AS unattributed_requests
    FROM llm_calls
    GROUP BY run_id
),
trained AS (
    SELECT *
    FROM trial_results
    WHERE coalesce(evaluator, '') <> 'nader:pre-decided'
        AND state NOT IN ('INVALID', 'DUPLICATE')
),
n_trained AS (
    SELECT run_id, count(*) AS architectures FROM trained GROUP BY run_id
)
SELECT
    t.run_id,
    t.eval_index,
    t.candidate_id,
    t.state,
    round(t.val_acc, 4) AS val_acc,
    coalesce(c.requests, 0) AS requests,
    coalesce(c.tokens_in, 0) AS tokens_in,
    coalesce(c.tokens_out, 0) AS tokens_out,
    round(coalesce(c.usd, 0), 6) AS usd,
    t.llm_tokens_in + t.llm_tokens_out AS trial_tokens,
    n.architectures,
    coalesce(r.run_requests, 0) AS run_requests,
    coalesce(r.unattributed_requests, 0) AS unattributed_requests,
    coalesce(r.run_tokens, 0) AS run_tokens,
    round(coalesce(r.run_usd, 0), 6) AS run_usd,
    round(coalesce(r.run_tokens, 0) / n.architectures, 1) AS tokens_per_architecture,
    round(coalesce(r.run_usd, 0) / n.architectures, 6) AS usd_per_architecture
FROM trained t
JOIN n_trained n USING (run_id)
LEFT JOIN calls c ON c.run_id = t.run_id AND c.candidate_id = t.candidate_id
LEFT JOIN run_totals r ON r.run_id = t.run_id
ORDER BY t.run_id, t.eval_index;
