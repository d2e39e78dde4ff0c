-- leaderboard: every evaluated candidate, best validation accuracy first (failures last).
SELECT
    row_number() OVER (
        PARTITION BY run_id ORDER BY ok DESC, val_acc DESC NULLS LAST, params NULLS LAST
    ) AS rank,
    run_id,
    candidate_id,
    strategy,
    agent,
    state,
    round(val_acc, 4) AS val_acc,
    round(test_acc, 4) AS test_acc,
    params,
    flops,
    epochs_run,
    round(wall_seconds, 1) AS wall_seconds,
    arch_kind,
    arch,
    prompt
FROM trial_results
ORDER BY run_id, rank;
