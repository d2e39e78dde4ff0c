"""``archlab sbatch CONFIG [key=value ...] > run.sbatch``: a controller script for ``sbatch``."""

from __future__ import annotations

import argparse

__all__ = ["register", "run_sbatch"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sbatch",
        help="print a requeueable controller sbatch script for CONFIG (submit it yourself)",
        description=(
            "Prints a script that runs `archlab controller RUN_DIR --config CONFIG`: the run is "
            "created by the job itself at RUN_ROOT/<name>-<job id> (a requeued job resumes the "
            "same run). The resolved config is embedded in the script, so later edits of "
            "CONFIG do not change the run. Nothing is created or submitted here."
        ),
    )
    p.add_argument("config", metavar="CONFIG")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    p.set_defaults(func=run_sbatch)


def render_user_script(cfg: object) -> str:
    import shlex
    import sys

    from launcher.config import RunConfig, to_yaml
    from slurm.sbatch import render_controller_script

    assert isinstance(cfg, RunConfig)
    root = shlex.quote(str(__import__("pathlib").Path(cfg.experiment.run_root).resolve()))
    name = cfg.experiment.name
    run_dir = f"{root}/{name}-${{SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}}"
    resolved = to_yaml(cfg)
    command = (
        f'{shlex.quote(sys.executable)} -m launcher controller "{run_dir}" '
        f'--config "{run_dir}.config.yaml"'
    )
    script = render_controller_script(
        cfg.executor.site,
        command,
        run_dir=run_dir,
        job_name=f"archlab-{name}"[:64],
    )
    # The log path must exist before Slurm opens it, and the resolved config travels inside.
    script = script.replace(
        f"#SBATCH --output={run_dir}/logs/%A_%a.out",
        f"#SBATCH --output={cfg.experiment.run_root}/{name}-%A.out",
    )
    embed = (
        f"mkdir -p {root}\ncat > \"{run_dir}.config.yaml\" <<'ARCHLAB_CONFIG'\n"
        f"{resolved}ARCHLAB_CONFIG\n"
    )
    head, sep, tail = script.rpartition("exec ")
    return f"{head}{embed}{sep}{tail}"


def run_sbatch(args: argparse.Namespace) -> int:
    from launcher.config import load_config

    cfg = load_config([args.config], [*args.overrides, "executor.kind=slurm"], check=True)
    print(render_user_script(cfg), end="")
    return 0
