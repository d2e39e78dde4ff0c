"""``llm.serve`` with ``executor.kind=local`` (no cluster needed): the scripted test server
runs as a local job of the run, every LLM call goes to it, it is cancelled when the run is
done; killed mid-run, a new one takes over and no candidate is lost or trained twice. The
same drills on real Slurm: tests/integration/test_llm_serve_slurm.py."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from tests.support.serve_drill import check_no_lost_or_duplicated, launch, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_local_run_uses_its_own_server_and_stops_it(tmp_path) -> None:
    d = launch(tmp_path, "local", cluster="local", candidates=3, train_s=0.5,
               extra=("llm.serve.bind=loopback",))  # fmt: skip
    wait_for(lambda: d.stopped(), 240, "the run to stop")
    assert d.stopped() == "done"
    [sub] = d.server_events("submit")
    [ready] = d.server_events("ready")
    assert ready["base_url"].startswith("http://127.0.0.1:")
    assert [e["job_id"] for e in d.server_events("cancel")] == [sub["job_id"]]
    check_no_lost_or_duplicated(d, 3)
    [server_pid] = {r["pid"] for r in d.requests()}
    wait_for(lambda: not _pid_alive(server_pid), 30, "the server process to end")


def test_a_killed_local_server_is_replaced_and_the_search_goes_on(tmp_path) -> None:
    d = launch(tmp_path, "localkill", cluster="local", candidates=5, train_s=2.0,
               delay_s=0.2, extra=("llm.serve.bind=loopback",))  # fmt: skip
    wait_for(lambda: d.server_events("ready") and len(d.training_starts()) >= 1, 120,
             "the server and a first training")  # fmt: skip
    first = {r["pid"] for r in d.requests()}
    assert len(first) == 1
    os.kill(first.pop(), signal.SIGKILL)  # the server process dies; its job reports it
    wait_for(lambda: d.stopped(), 240, "the run to stop")
    assert d.stopped() == "done"
    assert len(d.server_events("submit")) == 2 and len(d.server_events("end")) == 1
    check_no_lost_or_duplicated(d, 5, in_flight_killed=1)


STAND_IN = '''"""A stand-in for llama-cpp-python's server: the flags scripts/llm-up.sh passes, all
required (argparse refuses any other), then the scripted server under the alias."""
import argparse, pathlib, signal, threading
from tests.support.scripted_openai_server import ScriptedOpenAIServer
from tests.support.scripted_designer_llm import ScriptedDesignerLLM
p = argparse.ArgumentParser()
for flag in ("--model", "--model_alias", "--host", "--port", "--n_ctx", "--n_threads",
             "--n_threads_batch", "--chat_format"):
    p.add_argument(flag, required=True)
a = p.parse_args()
assert pathlib.Path(a.model).is_file(), a.model
print(f"stand-in llama_cpp.server {a.model_alias} ctx {a.n_ctx} threads {a.n_threads}", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
with ScriptedOpenAIServer(responder=ScriptedDesignerLLM(fault_every=0), owned_by="llamacpp",
                          host=a.host, port=int(a.port)):
    done.wait()
'''


def test_the_llama_cpp_kind_runs_its_rendered_command_line(tmp_path) -> None:
    """``llm.serve.kind=llama_cpp`` against a stand-in ``llama_cpp.server`` (this machine's
    real model server is someone else's: never started by tests): the rendered command
    line (venv python, GGUF path, alias, host, port, threads) is accepted and served."""
    from nas.llm.serve import LLAMA_CPP
    from tests.support.serve_drill import REPO

    ldir = tmp_path / "llm"
    (ldir / "venv" / "bin").mkdir(parents=True)
    (ldir / "model").mkdir()
    LLAMA_CPP.gguf(ldir).write_bytes(b"GGUF")
    stub = tmp_path / "stub" / "llama_cpp" / "server"
    stub.mkdir(parents=True)
    (stub.parent / "__init__.py").write_text("")
    (stub / "__init__.py").write_text("")
    (stub / "__main__.py").write_text(STAND_IN)
    python = LLAMA_CPP.python(ldir)
    python.write_text(f'#!/bin/bash\nPYTHONPATH={tmp_path / "stub"}:{REPO} '
                      f'exec {sys.executable} "$@"\n')  # fmt: skip
    python.chmod(0o755)
    serve = ("llm.serve.kind=llama_cpp", f"llm.serve.llama_dir={ldir}",
             f"llm.model={LLAMA_CPP.alias}", "llm.max_retries=0", "llm.serve.threads=1")  # fmt: skip
    d = launch(tmp_path, "llama", cluster="local", candidates=2, train_s=0.2, serve=serve,
               extra=("llm.serve.bind=loopback",))  # fmt: skip
    wait_for(lambda: d.stopped(), 240, "the run to stop")
    assert d.stopped() == "done"
    [sub] = d.server_events("submit")
    assert sub["kind"] == "llama_cpp" and d.server_events("ready")
    calls = [r for r in d.table("llm_calls") if r["status"] == "ok"]
    assert calls and {r["model"] for r in calls} == {LLAMA_CPP.alias}
    logs = "".join(p.read_text() for p in (d.run_dir / "llm_server" / "jobs").glob("*/*.out"))
    assert f"stand-in llama_cpp.server {LLAMA_CPP.alias} ctx 8192 threads 1" in logs
    check_no_lost_or_duplicated(d, 2)


def test_a_run_can_use_another_runs_server(tmp_path) -> None:
    """``llm.serve.reuse``: run B sends its calls to run A's server job and neither starts
    nor stops it; A's end stops it."""
    import subprocess

    from tests.support.serve_drill import REPO

    a = launch(tmp_path, "owner", cluster="local", candidates=40, train_s=2.0,
               extra=("llm.serve.bind=loopback",))  # fmt: skip
    wait_for(lambda: a.server_events("ready"), 120, "run A's server")
    b = launch(tmp_path, "guest", cluster="local", candidates=2, train_s=0.2,
               serve=("llm.model=scripted", "llm.max_retries=0",
                      f"llm.serve.reuse={a.run_dir}"))  # fmt: skip
    wait_for(lambda: b.stopped(), 180, "run B to stop")
    assert b.stopped() == "done"
    [reuse] = b.server_events("reuse")
    assert reuse["job_id"] == a.server_events("ready")[-1]["job_id"]
    assert not b.server_events("submit") and not b.server_events("cancel")
    assert [r for r in b.table("llm_calls") if r["status"] == "ok"]
    assert len({r["pid"] for r in a.requests()}) == 1  # A's one server answered both runs
    assert not a.stopped() and not a.server_events("cancel")  # B left it alone
    out = subprocess.run([sys.executable, "-m", "launcher", "cancel", str(a.run_dir)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    wait_for(lambda: a.stopped(), 120, "run A to stop")
