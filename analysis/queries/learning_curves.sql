-- learning_curves: per-epoch curves of the 5 best complete candidates of each run.
WITH top AS (
    SELECT run_id, candidate_id, attempt, val_acc AS final_val,
           row_number() OVER (PARTITION BY run_id ORDER BY val_acc DESC NULLS LAST) AS rank
    FROM trial_results
    WHERE ok
    QUALIFY rank <= 5
)
SELECT
    t.run_id,
    t.rank,
    t.candidate_id,
    e.epoch,
    e.train_loss,
    e.train_acc,
    e.val_loss,
    e.val_acc,
    e.lr
FROM top t
JOIN epochs e ON e.run_id = t.run_id AND e.candidate_id = t.candidate_id
    AND coalesce(e.attempt, 1) = coalesce(t.attempt, 1)
ORDER BY t.run_id, t.rank, e.epoch;
