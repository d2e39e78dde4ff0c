-- leaderboard: every evaluated candidate, best validation accuracy first (failures last).
-- The accuracies come first so that a terminal-width table (`archlab sql --query
-- leaderboard`) never hides them; the long text columns (arch, prompt) come last.
SELECT
    row_number() OVER (
        PARTITION BY run_id ORDER BY ok DESC, val_acc DESC NULLS LAST, params NULLS LAST
    ) AS rank,
    round(val_acc, 4) AS val_acc,
    round(test_acc, 4) AS test_acc,
    state,
    params,
    flops,
    candidate_id,
    strategy,
    agent,
    epochs_run,
    round(wall_seconds, 1) AS wall_seconds,
    run_id,
    arch_kind,
    arch,
    prompt
FROM trial_results
ORDER BY run_id, rank;
