#!/usr/bin/env bash
# The BENCHMARKS.md figures that are not criterion's: run from the repository root after
# `cargo build --release`. Needs wrk, /usr/bin/time, curl, jq, and (for the Prism pair) Prism
# installed with npm in $PRISM_DIR (default /tmp/prism-bench; never committed).
# Each pair is measured in one run, back to back, so the ratio is fair on a noisy machine.
set -euo pipefail
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/transfersim}
PRISM_DIR=${PRISM_DIR:-/tmp/prism-bench}
OUT=${OUT:-/tmp/transfersim-figures}
CONC=${CONC:-16}
WRK_S=${WRK_S:-10}
mkdir -p "$OUT"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"

start_serve() { # extra flags...; sets SERVE_PID and SERVE_URL, SERVE_LOG
  SERVE_LOG=$(mktemp)
  "$BIN" serve --port 0 "$@" >"$SERVE_LOG" 2>/dev/null &
  SERVE_PID=$!
  for _ in $(seq 100); do grep -q '^salesforce' "$SERVE_LOG" && break; sleep 0.1; done
  SERVE_URL=$(sed -n 's/^listening on //p' "$SERVE_LOG")
}
stop_serve() { kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; }
api() { curl -sf -X "$1" "$SERVE_URL$2" -H 'Authorization: Bearer test_key' -H 'content-type: application/json' ${3:+-d "$3"}; }

wrk_lua() { # method body -> script path
  local script
  script=$(mktemp --suffix .lua)
  cat >"$script" <<LUA
wrk.method = "$1"
wrk.headers["Authorization"] = "Bearer test_key"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$2'
LUA
  echo "$script"
}
rps() { sed -n 's/^Requests\/sec: *//p'; }

case "${1:-all}" in
suite|all)
  echo "== suite: in memory vs serve --clock virtual over HTTP vs its simulated span"
  /usr/bin/time -f '%e' -o "$OUT/suite-mem.time" "$BIN" check --json "$OUT/suite-mem.json" >/dev/null || true
  start_serve --clock virtual
  /usr/bin/time -f '%e' -o "$OUT/suite-http.time" "$BIN" check --target "$SERVE_URL" --json "$OUT/suite-http.json" >/dev/null || true
  stop_serve
  span=$(jq '[.. | objects | select(has("scenario_ms")) | .scenario_ms] | add / 1000' "$OUT/suite-mem.json")
  echo "suite span ${span} s; in memory $(cat "$OUT/suite-mem.time") s; over HTTP $(cat "$OUT/suite-http.time") s"
  ;;&
prism|all)
  echo "== serve vs Prism: wrk -t2 -c$CONC -d${WRK_S}s on the trigger and data routes"
  start_serve
  acct=$(sed -n 's/^hubspot .*account_id=\([^ ]*\).*client_id=\([^ ]*\) client_secret=\([^ ]*\) refresh_token=\([^ ]*\).*/\2 \3 \4/p' "$SERVE_LOG")
  read -r cid csec rtok <<<"$acct"
  hub="$SERVE_URL/providers/hubspot"
  pull=$(api POST /api/session/initiate '{"schema":[{"endgrate_type":"crm-contact"}],"save_session":true}' | jq -r .session_id)
  api POST /api/test_helpers/session/configure "{\"session_id\":\"$pull\",\"provider\":\"hubspot\",\"provider_base_url\":\"$hub\",\"credentials\":{\"refresh_token\":\"$rtok\",\"client_id\":\"$cid\",\"client_secret\":\"$csec\"}}" >/dev/null
  # Give the account 100 contacts to pull, through a push, then pull them.
  items=$(jq -nc '[range(100) | {data: {last_name: "P\(.)", email: "p\(.)@example.com"}}]')
  api POST /api/push/transfer "{\"session_id\":\"$pull\",\"endgrate_type\":\"crm-contact\",\"transfer_data\":$items,\"synchronous\":true}" >/dev/null
  tid=$(api POST /api/pull/transfer "{\"session_id\":\"$pull\",\"endgrate_type\":\"crm-contact\",\"synchronous\":true}" | jq -r .transfer_id)
  push=$(api POST /api/session/initiate '{"schema":[{"endgrate_type":"crm-contact"}],"save_session":true}' | jq -r .session_id)
  trig=$(wrk_lua POST "{\"session_id\":\"$push\",\"endgrate_type\":\"crm-contact\",\"transfer_data\":[{\"data\":{\"last_name\":\"W\",\"email\":\"w@example.com\"}}]}")
  get=$(wrk_lua GET "")
  s_trig=$(wrk -t2 -c"$CONC" -d"${WRK_S}s" -s "$trig" "$SERVE_URL/api/push/transfer" | rps)
  s_data=$(wrk -t2 -c"$CONC" -d"${WRK_S}s" -s "$get" "$SERVE_URL/api/pull/data?transfer_id=$tid&endgrate_type=crm-contact&limit=100" | rps)
  stop_serve
  PRISM_LOG=$(mktemp)
  "$PRISM_DIR/node_modules/.bin/prism" mock -p 4010 spec/openapi.yaml >"$PRISM_LOG" 2>&1 &
  PRISM_PID=$!
  for _ in $(seq 300); do curl -s -o /dev/null http://127.0.0.1:4010/api/integrations && break; sleep 0.1; done
  p_trig=$(wrk -t2 -c"$CONC" -d"${WRK_S}s" -s "$trig" "http://127.0.0.1:4010/api/push/transfer" | rps)
  p_data=$(wrk -t2 -c"$CONC" -d"${WRK_S}s" -s "$get" "http://127.0.0.1:4010/api/pull/data?transfer_id=$tid&endgrate_type=crm-contact&limit=100" | rps)
  # What Prism answers (to say whether its answers are successes).
  p_status=$(curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:4010/api/push/transfer -H 'Authorization: Bearer test_key' -H 'content-type: application/json' -d "{\"session_id\":\"$push\",\"endgrate_type\":\"crm-contact\",\"transfer_data\":[{\"data\":{\"last_name\":\"W\"}}]}")
  kill "$PRISM_PID"; wait "$PRISM_PID" 2>/dev/null || true
  echo "triggers/s: serve $s_trig, prism $p_trig (prism answers $p_status); data pages/s: serve $s_data, prism $p_data"
  ;;&
load|all)
  echo "== load: memory vs serve over loopback (same plan)"
  PLAN=(--sessions 100 --accounts 10 --transfers 1000 --records 100000 --concurrency "$CONC" --sync-ratio 0.1)
  "$BIN" load --target memory "${PLAN[@]}" --json "$OUT/load-mem.json" | tee "$OUT/load-mem.txt"
  start_serve
  "$BIN" load --target "$SERVE_URL" "${PLAN[@]}" --json "$OUT/load-serve.json" | tee "$OUT/load-serve.txt"
  stop_serve
  ;;&
load30|all)
  echo "== load against serve for 30 s"
  start_serve
  "$BIN" load --target "$SERVE_URL" --sessions 200 --accounts 20 --transfers 1000000 --records 10000000 --concurrency "$CONC" --duration 30s --json "$OUT/load-30s.json" | tee "$OUT/load-30s.txt"
  stop_serve
  ;;&
memory|all)
  echo "== the standard workload: pipelined (two threads) and --single-thread, peak RSS"
  STANDARD=(--target memory --sessions 1000 --accounts 50 --transfers 10000 --records 2000000 --provider-budget real --concurrency 64 --no-progress)
  for run in 1 2 3; do
    /usr/bin/time -v "$BIN" load "${STANDARD[@]}" --json "$OUT/standard-$run.json" 2>"$OUT/standard-$run.time" | grep -E '^(transfers|throughput)'
    grep -E 'Maximum resident|Elapsed|User time|System time' "$OUT/standard-$run.time"
    /usr/bin/time -v "$BIN" load "${STANDARD[@]}" --single-thread --json "$OUT/standard-single-$run.json" 2>"$OUT/standard-single-$run.time" | grep -E '^throughput' | sed 's/^/single-thread /'
  done
  ;;
esac
