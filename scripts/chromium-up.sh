#!/usr/bin/env bash
# Headless Chromium for the report screenshot test (tests/integration/test_report_chromium.py).
# Idempotent: installs Debian's `chromium` only when missing (apt-get update once, quietly).
# Prints the client environment as KEY=VALUE lines on stdout (scripts/test.sh exports them);
# everything else goes to stderr. Exits non-zero when chromium cannot be had here.
set -euo pipefail

find_chromium() {
  for c in "${ARCHLAB_CHROMIUM:-}" chromium chromium-browser google-chrome-stable google-chrome; do
    [ -n "$c" ] || continue
    if p=$(command -v "$c" 2>/dev/null); then echo "$p"; return 0; fi
  done
  return 1
}

if ! bin=$(find_chromium); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is not installed and apt-get is not available: install chromium and set ARCHLAB_CHROMIUM" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "chromium is not installed and installing it needs root (apt-get install chromium)" >&2
      exit 1
    fi
  fi
  echo "installing chromium (apt-get) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends chromium >&2
  bin=$(find_chromium) || { echo "apt-get installed no chromium binary" >&2; exit 1; }
fi
"$bin" --version >&2 || true
echo "ARCHLAB_CHROMIUM=$bin"
