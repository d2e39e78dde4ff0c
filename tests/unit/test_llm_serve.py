"""``llm.serve`` without a cluster: its settings (errors naming the key and the fix, before
anything is submitted), the server scripts and the server job's sbatch script (golden
files), the facts shared with ``scripts/llm-up.sh``, the journal reading, and the client's
endpoint hook (a dead server replaced between two attempts of one call)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from launcher.config import ConfigError, load_config
from nas.config_checks import SettingError
from nas.llm import LLMClient
from nas.llm.config import LLMConfig, ServeConfig
from nas.llm.serve import (
    LLAMA_CPP,
    LLMServer,
    LLMServerError,
    ServerView,
    _last_job,
    server_job_sbatch,
    server_jobs,
    server_script,
    tokens_per_s,
)
from slurm.executor import Handle, Outcome, OutcomeState
from slurm.site import SiteParams
from tests.support.scripted_openai_server import Reply, ScriptedOpenAIServer
from tests.unit.test_slurm_units import _golden

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CMD = "{python} -m tests.support.serve_scripted --host {host} --port {port} --log /tmp/r.log"


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize(
    ("serve", "key", "fix"),
    [
        (ServeConfig(kind="ollama"), "llm.serve.kind", "choose one of"),
        (ServeConfig(kind="vllm"), "llm.serve.model", "llm.serve.model=Qwen/"),
        (ServeConfig(kind="command"), "llm.serve.command", "{port}"),
        (ServeConfig(kind="command", command="srv --port 80"), "llm.serve.command",
         "add --port {port}"),
        (ServeConfig(kind="command", command="srv --port {port} --x {secret}"),
         "llm.serve.command", "unknown field(s) secret"),
        (ServeConfig(kind="command", command="srv {port} {"), "llm.serve.command", "{{"),
        (ServeConfig(kind="llama_cpp", command="x"), "llm.serve.command", "kind=command"),
        (ServeConfig(kind="llama_cpp", bind="all"), "llm.serve.bind", "node, loopback"),
        (ServeConfig(kind="llama_cpp", port=80), "llm.serve.port", "[1024, 65535]"),
        (ServeConfig(kind="llama_cpp", site=SiteParams(time="soon")), "llm.serve.site.time",
         "llm.serve.site.time=01:00:00"),
        (ServeConfig(kind="llama_cpp", watch_interval_s=30), "llm.serve.heartbeat_stale_s",
         "heartbeat_stale_s=90"),
        (ServeConfig(kind="llama_cpp", threads=0), "llm.serve.threads", "threads=1"),
    ],
)  # fmt: skip
def test_a_bad_serve_setting_names_its_key_and_the_fix(serve, key, fix) -> None:
    with pytest.raises(ValueError) as e:  # SettingError; the site's own ValueError
        LLMConfig(model="m", serve=serve).validate()
    assert f"'{key}'" in str(e.value) and fix in str(e.value)


def test_serve_and_base_url_or_replay_exclude_each_other() -> None:
    serve = ServeConfig(kind="command", command=CMD)
    with pytest.raises(SettingError, match=r"'llm.base_url'.*clear llm.base_url"):
        LLMConfig(model="m", base_url="http://x/v1", serve=serve).validate()
    with pytest.raises(SettingError, match=r"'llm.serve.kind'.*mode=replay sends no request"):
        LLMConfig(model="m", mode="replay", cassette="c.json", serve=serve).validate()
    with pytest.raises(SettingError, match=r"'llm.model' is 'gpt-4o-mini': names a hosted"):
        LLMConfig(serve=serve).validate()  # the default model name has a price
    LLMConfig(model="m", serve=serve).validate()
    assert not LLMConfig(serve=serve).offline and LLMConfig().offline


def test_the_launcher_refuses_a_serve_run_it_cannot_place(tmp_path) -> None:
    base = [
        "train.dataset=demo",
        "llm.model=m",
        "llm.serve.kind=command",
        f"llm.serve.command={CMD}",
    ]
    with pytest.raises(ConfigError, match=r"'executor.kind' is 'inprocess'.*executor.kind=slurm"):
        load_config([], base, check=True)
    load_config([], [*base, "executor.kind=slurm"], check=True)
    missing = tmp_path / "llm"
    with pytest.raises(ConfigError) as e:
        load_config([], ["train.dataset=demo", "executor.kind=slurm", "llm.serve.kind=llama_cpp",
                         "llm.model=m", f"llm.serve.llama_dir={missing}"], check=True)  # fmt: skip
    assert "'llm.serve.llama_dir'" in str(e.value)
    assert f"ARCHLAB_LLM_DIR={missing} bash scripts/llm-up.sh --install-only" in str(e.value)


# ------------------------------------------------------------------ rendering (golden)
def test_llama_cpp_server_script_matches_golden() -> None:
    serve = ServeConfig(kind="llama_cpp", threads=2, context_tokens=8192)
    text = server_script(serve, LLAMA_CPP.alias, llama_dir="/shared/archlab/.work/llm")
    _golden("llm_server_llama_cpp.sh", text)
    assert f"/shared/archlab/.work/llm/model/{LLAMA_CPP.alias}.gguf" in text


def test_vllm_server_script_matches_golden() -> None:
    serve = ServeConfig(kind="vllm", model="Qwen/Qwen2.5-Coder-7B-Instruct",
                        context_tokens=16384, site=SiteParams(gpus_per_task=2))  # fmt: skip
    text = server_script(serve, "qwen-coder-7b")
    _golden("llm_server_vllm.sh", text)
    # what the client relies on: the name it sends, the address the job chose
    assert "--served-model-name qwen-coder-7b" in text
    assert '--host "$ARCHLAB_SERVE_HOST" --port "$ARCHLAB_SERVE_PORT"' in text


def test_vllm_server_job_sbatch_matches_golden() -> None:
    """The sbatch script of the vLLM server job: llm.serve.site, with the run's site
    setup first and its account where the server's names none."""
    site = SiteParams(partition="cpu", account="proj-123", time="04:00:00", cpus_per_task=8,
                      mem="32G", gres="gpu:a100:1", setup=("module load cuda/12.1",),
                      array_throttle=4, signal_delay_s=120)  # fmt: skip
    own = SiteParams(partition="gpu", gres="gpu:a100:2", time="2-00:00:00", mem="64G",
                     cpus_per_task=4, setup=("source /shared/venvs/vllm/bin/activate",))  # fmt: skip
    serve = ServeConfig(kind="vllm", model="Qwen/Qwen2.5-Coder-7B-Instruct", site=own)
    text = server_job_sbatch(serve, site, folder="/shared/runs/r1/llm_server/jobs/slurm-x",
                             job_name="archlab-llm-r1-ab12cd34", python="/usr/bin/python3")  # fmt: skip
    _golden("llm_server_vllm.sbatch", text)
    for line in ("--partition=gpu", "--account=proj-123", "--gres=gpu:a100:2",
                 "--time=2-00:00:00", "--mem=64G", "--cpus-per-task=4", "--array=0-0\n"):  # fmt: skip
        assert line in text
    assert "%4" not in text  # the trainings' array throttle is not the server's
    assert text.index("module load cuda") < text.index("source /shared/venvs/vllm")
    assert "--tensor-parallel-size 2" in server_script(serve, "m")


def test_command_server_script_matches_golden() -> None:
    serve = ServeConfig(kind="command", command=CMD, model="m.gguf", threads=3)
    text = server_script(serve, "scripted", python="/opt/venv/bin/python")
    _golden("llm_server_command.sh", text)
    assert text.splitlines()[-1] == (
        '/opt/venv/bin/python -m tests.support.serve_scripted --host "$ARCHLAB_SERVE_HOST" '
        '--port "$ARCHLAB_SERVE_PORT" --log /tmp/r.log'
    )


def test_llama_cpp_facts_are_those_of_llm_up_sh() -> None:
    text = (REPO / "scripts" / "llm-up.sh").read_text()

    def var(name: str) -> str:
        m = re.search(rf"^{name}=(\S+)$", text, re.M)
        assert m, name
        return m.group(1)

    assert var("alias") == LLAMA_CPP.alias
    assert var("sha256_pinned") == LLAMA_CPP.sha256
    assert var("llama_version") == LLAMA_CPP.llama_version
    assert f"--chat_format {LLAMA_CPP.chat_format}" in text
    assert "gguf=$dir/model/$alias.gguf" in text and "venv=$dir/venv" in text


# ------------------------------------------------------------------ journal
def test_the_journal_names_the_live_server_job() -> None:
    ev = [{"ev": "llm_server", "action": "submit", "job_id": "5_0", "token": "a"},
          {"ev": "ask"},
          {"ev": "llm_server", "action": "end", "job_id": "5_0"},
          {"ev": "llm_server", "action": "submit", "job_id": "9_0", "token": "b"}]  # fmt: skip
    last = _last_job(ev)
    assert last is not None and last["job_id"] == "9_0"
    assert _last_job([*ev, {"ev": "llm_server", "action": "cancel", "job_id": "9_0"}]) is None
    assert server_jobs(ev) == ["5_0", "9_0"]
    view = ServerView.of([*ev, {"ev": "llm_server", "action": "ready", "job_id": "9_0",
                                "base_url": "http://n1:5/v1", "node": "n1"}])  # fmt: skip
    assert view is not None
    assert view.line("RUNNING") == "job 9_0 RUNNING on n1 at http://n1:5/v1 (; 2 jobs, 1 restart)"
    assert ServerView.of([{"ev": "ask"}]) is None


def test_tokens_per_s_is_measured_from_answered_calls() -> None:
    rows = [{"status": "ok", "tokens_out": 30, "latency_s": 2.0},
            {"status": "ok", "tokens_out": 10, "latency_s": 2.0},
            {"status": "ok", "tokens_out": 99, "latency_s": 0.0, "cache_hit": True},
            {"status": "connection", "tokens_out": 0, "latency_s": 5.0}]  # fmt: skip
    assert tokens_per_s(rows) == 10.0
    assert tokens_per_s(rows[3:]) is None


# ------------------------------------------------------------------ the client's hook
def test_a_call_whose_server_died_is_sent_to_the_new_one() -> None:
    """One call, max_retries=0: the first server is gone, the hook says where the new one
    is, the call succeeds there; the failed attempt is a row of its own."""
    asked: list[bool] = []
    rows: list[dict[str, object]] = []
    with ScriptedOpenAIServer([Reply.text("first")]) as old:
        old_url = old.base_url
    with ScriptedOpenAIServer([Reply.text("second")]) as new:

        def endpoint(failed: bool) -> str:  # what LLMServer.endpoint does, in miniature
            asked.append(failed)
            return new.base_url if True in asked else old_url

        client = LLMClient("m", api_key="x", max_retries=0, sink=rows.extend)
        client.endpoint = endpoint
        reply = client.chat([{"role": "user", "content": "hi"}])
        assert reply.text == "second" and len(new.requests) == 1
    assert asked == [False, True, False]  # made, failed over, remade on the new URL
    assert [r["status"] for r in rows] == ["connection", "ok"]


# ------------------------------------------------------------------ the manager
class FakeJobs:
    """An executor whose 'jobs' are scripted servers this test starts and kills."""

    name = "fake"

    def __init__(self) -> None:
        self.servers: dict[str, ScriptedOpenAIServer] = {}
        self.handles: dict[str, Handle] = {}
        self.cancelled: list[str] = []

    def submit(self, calls):
        [call] = calls
        spec = call.args[0]
        job = f"{100 + len(self.servers)}_0"
        srv = ScriptedOpenAIServer(responder=lambda req: "ok").start()
        self.servers[job] = srv
        Path(spec.endpoint).write_text(json.dumps(
            {"state": "ready", "base_url": srv.base_url, "node": "n1", "job_id": job}))  # fmt: skip
        h = self.handles[job] = Handle(key=call.key, job_id=job, ref={"dir": "x"})
        return [h]

    def as_completed(self, handles, timeout_s=None):
        yield from (h for h in handles if h.outcome is not None)

    def cancel(self, handles):
        for h in handles:
            self.cancelled.append(h.job_id)
            self.die(h.job_id, OutcomeState.CANCELLED)

    def attach(self, key, job_id, ref=None, call=None):
        return self.handles[job_id]

    def die(self, job: str, state: OutcomeState, why: str = "") -> None:
        self.servers[job].stop()
        if self.handles[job].outcome is None:
            self.handles[job].outcome = Outcome(state, error=why)


def _server(tmp_path: Path, jobs: FakeJobs, events: list, owner: str = ""):
    """The manager over ``jobs``, started on the journal in ``tmp_path`` (close it)."""
    from nas.controller.journal import Journal

    journal, _ = Journal.open(tmp_path / "journal.jsonl")

    def emit(ev: str, **fields) -> None:
        events.append({"ev": ev, **fields})
        journal.append(ev, **fields)

    serve = ServeConfig(kind="command", command=CMD, ready_timeout_s=10, watch_interval_s=1,
                        heartbeat_stale_s=3)  # fmt: skip
    server = LLMServer(serve, "m", tmp_path, "r1", lambda folder: jobs, owner_job=owner,
                       poll_s=0.05)  # fmt: skip
    server.start(emit)
    return server, journal


def test_the_manager_starts_replaces_and_cancels_its_job(tmp_path) -> None:
    jobs, events = FakeJobs(), []
    server, journal = _server(tmp_path, jobs, events, owner="7_0")
    first = server.endpoint()
    assert [e["action"] for e in events] == ["submit", "ready"]
    assert server.endpoint(failed=True) == first  # it still connects: same server
    jobs.die("100_0", OutcomeState.FAILED, "boom")
    second = server.endpoint(failed=True)
    assert second != first
    assert [e["action"] for e in events] == ["submit", "ready", "end", "submit", "ready"]
    server.stop("interrupted:SIGTERM")  # a requeue: left running
    assert jobs.cancelled == []
    server.stop("done")
    assert jobs.cancelled == ["101_0"] and events[-1]["action"] == "cancel"
    journal.close()


def test_a_restarted_controller_reattaches_to_the_live_job(tmp_path) -> None:
    jobs, events = FakeJobs(), []
    a, ja = _server(tmp_path, jobs, events, owner="7_0")
    url = a.endpoint()
    a.stop("interrupted:SIGTERM")
    ja.close()
    b, jb = _server(tmp_path, jobs, events, owner="7_0")
    assert events[-1] == {"ev": "llm_server", "action": "attach", "job_id": "100_0",
                          "token": a.token}  # fmt: skip
    assert b.endpoint() == url and len(jobs.servers) == 1
    b.stop("done")
    jb.close()


def test_a_job_that_saw_its_own_controller_end_is_not_replaced(tmp_path) -> None:
    jobs, events = FakeJobs(), []
    server, journal = _server(tmp_path, jobs, events, owner="7_0")
    server.endpoint()
    endpoint = tmp_path / "llm_server" / f"endpoint-{server.token}.json"
    endpoint.write_text(json.dumps({"state": "stopped", "why": "owner job 7_0 ended (CANCELLED)"}))
    jobs.die("100_0", OutcomeState.DONE)
    with pytest.raises(LLMServerError, match="controller is ending"):
        server.endpoint(failed=True)
    assert len(jobs.servers) == 1
    # another controller (a resume: another job) replaces it, unless the run is cancelled
    server.owner_job = "9_0"
    (tmp_path / "CANCEL").write_text("")
    with pytest.raises(LLMServerError, match="being cancelled"):
        server.endpoint(failed=True)
    (tmp_path / "CANCEL").unlink()
    assert server.endpoint(failed=True) != ""
    assert len(jobs.servers) == 2
    server.stop("done")
    journal.close()


def test_restarts_are_bounded(tmp_path) -> None:
    jobs, events = FakeJobs(), []
    server, journal = _server(tmp_path, jobs, events)
    server.serve = ServeConfig(kind="command", command=CMD, max_restarts=1, ready_timeout_s=10)
    server.endpoint()
    jobs.die("100_0", OutcomeState.FAILED)
    server.endpoint(failed=True)
    jobs.die("101_0", OutcomeState.FAILED)
    with pytest.raises(LLMServerError, match=r"died 2 times.*max_restarts=1"):
        server.endpoint(failed=True)
    server.stop("failed: LLMServerError")  # what the controller does next
    journal.close()


def test_reuse_names_a_serving_run_with_the_same_model(tmp_path) -> None:
    with pytest.raises(SettingError, match=r"'llm.serve.reuse'.*clear llm.serve.kind"):
        ServeConfig(kind="command", command=CMD, reuse="/runs/a").validate()
    assert ServeConfig(reuse="/runs/a").enabled
    base = ["train.dataset=demo", "llm.model=m"]
    with pytest.raises(ConfigError, match=r"'llm.serve.reuse'.*not a started run directory"):
        load_config([], [*base, f"llm.serve.reuse={tmp_path}"], check=True)
    from launcher.config import save_config

    other = load_config([], [*base, "llm.serve.kind=command", f"llm.serve.command={CMD}",
                             "executor.kind=slurm"])  # fmt: skip
    save_config(other, tmp_path / "config.yaml")
    (tmp_path / "journal.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"'llm.model' is 'x'.*set llm.model=m"):
        load_config([], ["train.dataset=demo", "llm.model=x", f"llm.serve.reuse={tmp_path}"],
                    check=True)  # fmt: skip
    load_config([], [*base, f"llm.serve.reuse={tmp_path}"], check=True)  # inprocess is fine
    view = ServerView.of([{"ev": "llm_server", "action": "reuse", "run": "/runs/a",
                           "job_id": "5_0", "base_url": "http://n:1/v1", "node": "n"}])  # fmt: skip
    assert view is not None
    assert view.line("RUNNING") == (
        "job 5_0 RUNNING on n at http://n:1/v1, the server of run /runs/a (llm.serve.reuse)"
    )
