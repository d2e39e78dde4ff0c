-- pareto_front: complete candidates no other candidate of the run dominates in
-- (higher validation accuracy, fewer parameters, fewer FLOPs); NULL FLOPs count as 0.
WITH ok AS (
    SELECT
        run_id, candidate_id, strategy, agent, val_acc, test_acc,
        coalesce(params, 0) AS params, coalesce(flops, 0) AS flops, arch
    FROM trial_results
    WHERE ok AND val_acc IS NOT NULL
)
SELECT
    a.run_id,
    a.candidate_id,
    a.strategy,
    round(a.val_acc, 4) AS val_acc,
    round(a.test_acc, 4) AS test_acc,
    a.params,
    a.flops,
    a.arch
FROM ok a
WHERE NOT EXISTS (
    SELECT 1
    FROM ok b
    WHERE b.run_id = a.run_id
      AND b.candidate_id <> a.candidate_id
      AND b.val_acc >= a.val_acc AND b.params <= a.params AND b.flops <= a.flops
      AND (b.val_acc > a.val_acc OR b.params < a.params OR b.flops < a.flops)
)
ORDER BY a.run_id, a.val_acc DESC, a.params;
