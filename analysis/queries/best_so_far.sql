-- best_so_far: the incumbent's validation accuracy (and its test accuracy) after each
-- evaluation, in the order results arrived; is_improvement marks a new incumbent.
SELECT
    run_id,
    eval_index,
    candidate_id,
    state,
    round(val_acc, 4) AS val_acc,
    round(best_val, 4) AS best_val,
    round(best_test, 4) AS best_test,
    best_candidate_id,
    is_improvement
FROM best_so_far_curve
ORDER BY run_id, eval_index;
