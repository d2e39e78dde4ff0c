-- failures_by_kind: failed evaluations by state and error kind (the exception name that
-- starts the error text), with one example message.
SELECT
    run_id,
    state,
    coalesce(
        nullif(regexp_extract(error, '^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*:', 1), ''),
        CASE WHEN error = '' THEN '(no error text)' ELSE 'other' END
    ) AS error_kind,
    count(*) AS n,
    any_value(left(split_part(error, chr(10), 1), 160)) AS example
FROM trial_results
WHERE NOT ok AND state <> 'PRUNED'  -- stopped at a rung: not a failure
GROUP BY run_id, state, error_kind
ORDER BY run_id, n DESC, state, error_kind;
