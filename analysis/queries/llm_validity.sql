-- llm_validity: how often answers obeyed their answer form, by agent, agent step (prompt),
-- constraint and what was sent for it (gbnf / json_object / json_schema /
-- structured_outputs.* / none). One row per final request (retried attempts and the
-- structured-output probe's rows are left out). obeyed_rate: answers that are sentences of
-- the constraint; usable_rate: answers the caller used (no fallback recorded on the row).
SELECT
    run_id,
    coalesce(nullif(agent, ''), 'unknown') AS agent,
    coalesce(prompt_id, '') AS agent_step,
    coalesce(constraint_name, '') AS constraint_name,
    CASE
        WHEN constraint_mode IS NULL THEN ''
        WHEN constraint_mode LIKE 'none%' THEN 'none'
        ELSE constraint_mode
    END AS sent,
    count(*) AS calls,
    count(*) FILTER (WHERE coalesce(status, 'ok') NOT IN ('ok', 'empty')) AS failed_calls,
    count(*) FILTER (WHERE obeyed) AS obeyed,
    round(count(*) FILTER (WHERE obeyed) / nullif(count(obeyed), 0), 3) AS obeyed_rate,
    count(*) FILTER (WHERE fallback IS NULL AND coalesce(status, 'ok') = 'ok') AS usable,
    round(
        count(*) FILTER (WHERE fallback IS NULL AND coalesce(status, 'ok') = 'ok') / count(*), 3
    ) AS usable_rate,
    any_value(constraint_mode) FILTER (WHERE constraint_mode LIKE 'none%') AS why_none
FROM llm_calls
WHERE NOT coalesce(retried, false) AND coalesce(agent, '') <> 'structured-probe'
GROUP BY ALL
ORDER BY run_id, agent, agent_step, constraint_name, sent;
