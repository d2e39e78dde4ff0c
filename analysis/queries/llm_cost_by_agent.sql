-- llm_cost_by_agent: LLM calls, tokens, dollars, latency and errors per agent and model.
SELECT
    run_id,
    coalesce(nullif(agent, ''), 'unknown') AS agent,
    coalesce(model, '') AS model,
    count(*) AS calls,
    count(*) FILTER (WHERE coalesce(status, 'ok') <> 'ok') AS errors,
    count(*) FILTER (WHERE cache_hit) AS cache_hits,
    sum(coalesce(tokens_in, 0)) AS tokens_in,
    sum(coalesce(tokens_out, 0)) AS tokens_out,
    round(sum(coalesce(cost_usd, 0)), 4) AS usd,
    round(avg(latency_s), 2) AS mean_latency_s
FROM llm_calls
GROUP BY ALL
ORDER BY run_id, usd DESC, agent;
