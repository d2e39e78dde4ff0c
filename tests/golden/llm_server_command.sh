#!/bin/bash
# archlab LLM server (llm.serve.kind=command), rendered by nas/llm/serve.py.
# Run by the server job (slurm/service.py): it sets ARCHLAB_SERVE_HOST/PORT, waits
# for GET /v1/models, writes the endpoint file the controller reads, and stops this
# process group when the run's controller is gone.
set -e
# llm.serve.command, its {fields} filled in
/opt/venv/bin/python -m tests.support.serve_scripted --host "$ARCHLAB_SERVE_HOST" --port "$ARCHLAB_SERVE_PORT" --log /tmp/r.log
