-- fidelity: trials under a fidelity schedule (issue 25) — the epochs each result stands
-- for, PRUNED ones (stopped at a rung) and the GPU-seconds they did not spend (see the
-- `fidelity` view in _views.sql).
SELECT *
FROM fidelity
ORDER BY run_id, pruned, val_acc DESC;
