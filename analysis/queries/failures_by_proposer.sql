-- failures_by_proposer: evaluations and failures per proposing strategy and agent.
SELECT
    run_id,
    strategy,
    agent,
    count(*) AS evaluated,
    count(*) FILTER (WHERE NOT ok AND state <> 'PRUNED') AS failed,
    round(count(*) FILTER (WHERE NOT ok AND state <> 'PRUNED') / count(*), 3) AS failure_rate,
    string_agg(DISTINCT state, ',' ORDER BY state) FILTER (WHERE NOT ok AND state <> 'PRUNED')
        AS failure_states
FROM trial_results
GROUP BY run_id, strategy, agent
ORDER BY run_id, failed DESC, evaluated DESC, strategy, agent;
