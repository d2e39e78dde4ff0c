"""``archlab launch CONFIG [key=value ...]``: create a run, start its controller, return."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run_launch"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "launch",
        help="create a run and start its controller (returns at once)",
        description=(
            "Validates CONFIG (+ overrides), creates runs/<run_id>/ (resolved config, manifest "
            "with code version and config hash), starts the controller — a Slurm job "
            "(--cluster slurm), a detached local process (local) or in the foreground "
            "(inprocess) — and prints the run id, the log and how to follow it. "
            "--cluster defaults to executor.kind and also sets it."
        ),
    )
    p.add_argument("config", metavar="CONFIG", help="YAML file, e.g. configs/nader_cifar100.yaml")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="e.g. budget.candidates=50; more YAML files (a site profile) merge in order",
    )
    p.add_argument("--cluster", choices=("slurm", "local", "inprocess"), help="where to run")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the controller's sbatch script and the budget; create and submit nothing",
    )
    p.set_defaults(func=run_launch)


def load_launch_config(
    config: str, overrides: list[str], cluster: str | None
) -> tuple[object, str]:
    from launcher.config import load_config

    extra = [f"executor.kind={cluster}"] if cluster else []
    files = [config, *(o for o in overrides if "=" not in o and o.endswith((".yaml", ".yml")))]
    rest = [o for o in overrides if o not in files]
    cfg = load_config(files, [*rest, *extra], check=True)
    return cfg, cfg.executor.kind


def _print_server(cfg: object, paths: object) -> None:
    """[issue 26] The dry run of ``llm.serve``: the server job's sbatch script and the
    script it runs (the executor submits them when the controller starts)."""
    from launcher.config import RunConfig
    from launcher.run import RunPaths
    from nas.llm.serve import SERVE_DIR, server_job_sbatch, server_script

    assert isinstance(cfg, RunConfig) and isinstance(paths, RunPaths)
    s = cfg.llm.serve
    folder = paths.run_dir / SERVE_DIR / "jobs" / "slurm-<stamp>"
    print(f"# LLM server job (llm.serve.kind={s.kind}), submitted by the controller; its sbatch:")
    print(server_job_sbatch(s, cfg.executor.site, folder=folder, python=sys.executable,
                            job_name=f"archlab-llm-{paths.run_id}"[:60] + "-<tag>"), end="")  # fmt: skip
    print(f"# the server script it runs ({paths.run_dir / SERVE_DIR}/server-<token>.sh):")
    print(server_script(s, cfg.llm.model, python=sys.executable), end="")


def run_launch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from launcher.build import estimate_budget
    from launcher.config import RunConfig
    from launcher.run import (
        RunPaths,
        controller_script,
        create_run,
        new_run_id,
        record_inprocess_controller,
        start_controller,
    )

    cfg, cluster = load_launch_config(args.config, args.overrides, args.cluster)
    assert isinstance(cfg, RunConfig)
    if args.dry_run:
        run_id = new_run_id(cfg)
        paths = RunPaths(run_id, Path(cfg.experiment.run_root).resolve() / run_id)
        print(f"# dry run: nothing created or submitted (run would be {paths.run_dir})")
        print(f"# controller: --cluster {cluster}; its sbatch script:")
        print(controller_script(cfg, paths))
        if cfg.llm.serve.kind:
            _print_server(cfg, paths)
        print("# budget")
        for line in estimate_budget(cfg).lines():
            print(f"#   {line}")
        return 0
    paths = create_run(cfg, cluster=cluster)
    if cluster == "inprocess":
        from launcher.commands.controller import run_controller

        record_inprocess_controller(paths)
        print(f"archlab launch: run {paths.run_id} in the foreground ({paths.run_dir})", flush=True)
        return run_controller(
            argparse.Namespace(
                run_dir=str(paths.run_dir), config=None, overrides=[], quiet=False, no_requeue=True
            )
        )
    info = start_controller(cfg, paths, cluster)
    where = f"Slurm job {info['job_id']}" if cluster == "slurm" else f"local process {info['pid']}"
    root = cfg.experiment.run_root
    print(f"run:      {paths.run_id}")
    print(f"dir:      {paths.run_dir}")
    print(f"started:  controller as {where}")
    print(f"log:      {info['log']}")
    print(f"follow:   archlab status {paths.run_id} --runs-root {root}   (tail -f {info['log']})")
    print(f"stop:     archlab cancel {paths.run_id} --runs-root {root}")
    sys.stdout.flush()
    return 0
