#!/usr/bin/env bash
# Property-based API check (issue 7): schemathesis against `transfersim serve` with
# spec/openapi.yaml and an auth header. Fails on any 5xx, schema violation or status code the
# spec does not document. A manual check (several minutes), not part of CI.
#
# - schemathesis comes from PyPI into a venv under /tmp (never vendored); SCHEMATHESIS_VENV
#   overrides where, SCHEMATHESIS_VERSION which version.
# - serve is the release build, on a virtual clock, on a free loopback port, stopped at exit.
# - scripts/schemathesis_hooks.py sends synchronous triggers as asynchronous ones and caps
#   `advance` at one hour, so no call blocks (see that file).
# - Extra arguments go to `schemathesis run` (e.g. `--max-examples 20`, `--phases examples`).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SCHEMATHESIS_VENV:-/tmp/transfersim-schemathesis-venv}"
version="${SCHEMATHESIS_VERSION:-4.32.5}"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

cargo build --release --bin transfersim
binary="${CARGO_TARGET_DIR:-target}/release/transfersim"

out="$(mktemp)"
"$binary" serve --port 0 --clock virtual --api-key test_key >"$out" 2>/dev/null &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; rm -f "$out"' EXIT
# Bounded: 100 tries of 100 ms for the first line.
base=""
for _ in $(seq 100); do
  base="$(sed -n 's/^listening on //p' "$out" | head -n 1)"
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "serve did not start" >&2; exit 1; }

SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="scripts${PYTHONPATH:+:$PYTHONPATH}" \
  "$venv/bin/schemathesis" run spec/openapi.yaml \
  --url "$base" \
  --header "Authorization: Bearer test_key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --request-timeout 20 \
  --workers 1 \
  "$@"
