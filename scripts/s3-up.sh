#!/usr/bin/env bash
# Start the local S3-protocol server for tests and development: nanio (file-backed, verifies
# SigV4 signatures) on 127.0.0.1, with one bucket. Idempotent: a server this script started
# earlier that still answers is reused. On success prints the environment its clients need
# as KEY=VALUE lines on stdout (scripts/test.sh exports them); diagnostics go to stderr.
#
#   eval "$(scripts/s3-up.sh | sed 's/^/export /')"   # then use ARCHLAB_TEST_S3_ENDPOINT
#
# Settings (environment): ARCHLAB_S3_PORT (default 9000, or a free port when 9000 is taken),
# ARCHLAB_S3_BUCKET (archlab-test), ARCHLAB_S3_ACCESS_KEY / ARCHLAB_S3_SECRET_KEY (fixed
# development credentials of this throw-away local server), ARCHLAB_S3_DIR (.work/s3).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${ARCHLAB_S3_DIR:-.work/s3}
bucket=${ARCHLAB_S3_BUCKET:-archlab-test}
access=${ARCHLAB_S3_ACCESS_KEY:-archlab-dev}
secret=${ARCHLAB_S3_SECRET_KEY:-archlab-dev-secret-key}
region=us-east-1
mkdir -p "$dir/data"

find_tool() {  # $1 = executable name; the active PATH first (test.sh puts its venv there), then .venv
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"
  elif [ -x ".venv/bin/$1" ]; then echo ".venv/bin/$1"
  else return 1; fi
}
nanio=$(find_tool nanio) || { echo "nanio is not installed (pip install nanio; it is in archlab's [dev] extra)" >&2; exit 1; }
py=$(dirname "$nanio")/python
[ -x "$py" ] || py=$(find_tool python3)

emit() {
  echo "ARCHLAB_TEST_S3_ENDPOINT=http://127.0.0.1:$1"
  echo "ARCHLAB_TEST_S3_BUCKET=$bucket"
  echo "AWS_ACCESS_KEY_ID=$access"
  echo "AWS_SECRET_ACCESS_KEY=$secret"
  echo "AWS_DEFAULT_REGION=$region"
}

# Waits until the server answers a signed request, then makes the bucket. Exit 0 = ready.
probe() {  # $1 = port, $2 = seconds to wait, $3 = pid to watch (optional)
  AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret "$py" - "$1" "$2" "$bucket" "${3:-0}" <<'PY'
import os, sys, time
import boto3
from botocore.config import Config
port, wait, bucket, pid = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                connect_timeout=1, read_timeout=5))
deadline, last = time.monotonic() + wait, None
while True:
    try:
        names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in names:
            s3.create_bucket(Bucket=bucket)
        sys.exit(0)
    except Exception as e:  # not up yet, or not ours
        last = e
    if pid:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(f"nanio (pid {pid}) exited during start-up: {last}")
    if time.monotonic() > deadline:
        sys.exit(f"S3 server on 127.0.0.1:{port} not ready after {wait:.0f} s: {last}")
    time.sleep(0.2)
PY
}

port_free() {
  "$py" -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Reuse a server started earlier by this script.
if [ -f "$dir/nanio.pid" ] && [ -f "$dir/port" ]; then
  pid=$(cat "$dir/nanio.pid"); port=$(cat "$dir/port")
  if kill -0 "$pid" 2>/dev/null && probe "$port" 3 "$pid" 2>/dev/null; then
    emit "$port"; exit 0
  fi
  kill "$pid" 2>/dev/null || true
  rm -f "$dir/nanio.pid" "$dir/port"
fi

for attempt in 1 2 3; do
  port=${ARCHLAB_S3_PORT:-9000}
  if ! port_free "$port"; then
    if [ -n "${ARCHLAB_S3_PORT:-}" ]; then echo "port $port (ARCHLAB_S3_PORT) is in use" >&2; exit 1; fi
    port=$(free_port)
  fi
  NANIO_ACCESS_KEY=$access NANIO_SECRET_KEY=$secret setsid "$nanio" serve --host 127.0.0.1 \
    --port "$port" --data-dir "$dir/data" --region "$region" --no-access-log --log-level warning \
    >"$dir/nanio.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/nanio.pid"; echo "$port" >"$dir/port"
  if probe "$port" 20 "$pid" >&2; then
    echo "nanio pid $pid serving $dir/data on http://127.0.0.1:$port (bucket $bucket)" >&2
    emit "$port"; exit 0
  fi
  kill "$pid" 2>/dev/null || true
  rm -f "$dir/nanio.pid" "$dir/port"
  echo "start attempt $attempt failed; server log:" >&2; tail -n 5 "$dir/nanio.log" >&2 || true
done
echo "could not start the S3 server (nanio) on 127.0.0.1" >&2
exit 1
