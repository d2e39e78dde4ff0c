#!/bin/bash
# archlab LLM server (llm.serve.kind=vllm), rendered by nas/llm/serve.py.
# Run by the server job (slurm/service.py): it sets ARCHLAB_SERVE_HOST/PORT, waits
# for GET /v1/models, writes the endpoint file the controller reads, and stops this
# process group when the run's controller is gone.
set -e
# vLLM >= 0.12: structured outputs are on by default; the client sends them as
# extra_body={"structured_outputs": {"grammar"|"json": ...}} (nas/llm/structured.py).
# --generation-config vllm: the client's temperature/seed hold, not the model
# repository's generation_config.json.
exec vllm serve Qwen/Qwen2.5-Coder-7B-Instruct --served-model-name qwen-coder-7b \
  --host "$ARCHLAB_SERVE_HOST" --port "$ARCHLAB_SERVE_PORT" \
  --tensor-parallel-size 2 --max-model-len 16384 --generation-config vllm
