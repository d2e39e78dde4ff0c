#!/bin/bash
# archlab LLM server (llm.serve.kind=llama_cpp), rendered by nas/llm/serve.py.
# Run by the server job (slurm/service.py): it sets ARCHLAB_SERVE_HOST/PORT, waits
# for GET /v1/models, writes the endpoint file the controller reads, and stops this
# process group when the run's controller is gone.
set -e
# the project's own model: llama-cpp-python[server]==0.3.36 and the GGUF installed by
# scripts/llm-up.sh --install-only (ARCHLAB_LLM_DIR=/shared/archlab/.work/llm)
exec /shared/archlab/.work/llm/venv/bin/python -m llama_cpp.server --model /shared/archlab/.work/llm/model/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
  --model_alias qwen2.5-coder-1.5b-instruct-q4_k_m --host "$ARCHLAB_SERVE_HOST" --port "$ARCHLAB_SERVE_PORT" \
  --n_ctx 8192 --n_threads 2 --n_threads_batch 2 --chat_format chatml
