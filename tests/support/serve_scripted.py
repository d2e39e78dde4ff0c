"""The scripted test server as a command: what ``llm.serve.kind=command`` runs in tests.

    python -m tests.support.serve_scripted --host {host} --port {port} --log FILE

Serves :class:`tests.support.scripted_openai_server.ScriptedOpenAIServer` answering every chat request
with :class:`tests.support.scripted_designer_llm.ScriptedDesignerLLM` (NADER's prompts) on
``host:port`` until SIGTERM. Each chat request it receives is one line appended to ``--log``
(``{"pid", "t", "task", "key"}``; ``key`` hashes the messages), so a drill counts the
requests every server of a run received and finds any sent twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import threading
import time
from typing import Any

from tests.support.scripted_designer_llm import ScriptedDesignerLLM
from tests.support.scripted_openai_server import ScriptedOpenAIServer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True, help="one JSON line per chat request received")
    p.add_argument("--delay-s", type=float, default=0.0, help="sleep before each answer")
    p.add_argument("--fault-every", type=int, default=0, help="ScriptedDesignerLLM faults")
    args = p.parse_args(argv)
    designer = ScriptedDesignerLLM(fault_every=args.fault_every)
    lock = threading.Lock()

    def respond(req: dict[str, Any]) -> str:
        msgs = req.get("messages", [])
        last = str(msgs[-1].get("content", "")) if msgs else ""
        m = re.search(r"^Task: (\w+)", last, re.M)
        key = hashlib.sha256(json.dumps(msgs, sort_keys=True).encode()).hexdigest()[:16]
        line = {"pid": os.getpid(), "t": time.time(), "task": m.group(1) if m else "",
                "key": key}  # fmt: skip
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(line) + "\n")
        print(f'"POST /v1/chat/completions" {key}', flush=True)  # an access-log line
        if args.delay_s:
            time.sleep(args.delay_s)
        return designer(req)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with ScriptedOpenAIServer(responder=respond, host=args.host, port=args.port) as srv:
        print(f"serve_scripted: {srv.base_url} (pid {os.getpid()})", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
