#!/usr/bin/env bash
# Push throughput against the local sandbox, and how closely `requestsPerMinute` is kept.
#   scripts/bench-push.sh [ROWS] [LATENCY_MS]
# Builds the release binary, generates a seller-center export with `refundflow bench`, starts
# `refundflow sandbox --latency-ms LATENCY_MS`, then pushes it:
#   1. unpaced (requestsPerMinute=0) at concurrency 1, 4 and 8 with batchSize 50;
#   2. paced at requestsPerMinute=600 with batchSize 100 (so that pacing, not latency, limits),
#      reporting the requests per minute achieved.
# Each run gets a fresh ledger (--ledger-reset), so every record is sent every time.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-20000}"
latency="${2:-50}"
swift build -c release >/dev/null
bin="$PWD/.build/release/refundflow"
work="$(mktemp -d)"
trap 'kill "$sandbox_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export WDT_SID=bench WDT_APPKEY=bench_key WDT_APPSECRET='bench_secret:bench_salt'
"$bin" bench --rows "$rows" --dir "$work" >/dev/null 2>&1
input="$work/taobao-refunds-$rows-utf-8.csv"

"$bin" sandbox --port 0 --db "$work/sandbox.sqlite" --latency-ms "$latency" >"$work/address" 2>/dev/null &
sandbox_pid=$!
for _ in $(seq 50); do [ -s "$work/address" ] && break; sleep 0.1; done
address="$(head -1 "$work/address")"
echo "sandbox $address, latency ${latency} ms, $rows rows"

push() {  # label, then --target-option pairs
    local label="$1"; shift
    local out="$work/out-$label"
    local start end
    start=$(date +%s.%N)
    "$bin" run pipelines/taobao-seller-refunds-csv.yaml --set shop_no=BENCH --input "$input" --out "$out" \
        --endpoint "$address" --ledger "$work/ledger.sqlite" --ledger-reset "$@" 2>/dev/null || true
    end=$(date +%s.%N)
    python3 - "$out/report.json" "$start" "$end" "$label" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
push = report["writer"]["push"]
seconds = float(sys.argv[3]) - float(sys.argv[2])
accepted = push["accepted"]["records"]
print(f"{sys.argv[4]:<28} {seconds:7.2f} s  {accepted / seconds:8.0f} records/s  "
      f"{push['http_requests']:5d} requests  {push['http_requests'] / seconds * 60:7.0f} requests/min  "
      f"accepted {accepted}  failed {push['failed']['records']}  outcomes for all: {push['every_record_has_an_outcome']}")
PY
}

for concurrency in 1 4 8; do
    push "unpaced-c$concurrency" --target-option requestsPerMinute=0 --target-option concurrency=$concurrency --target-option batchSize=50
done
push "paced-600rpm-batch100" --target-option requestsPerMinute=600 --target-option concurrency=4 --target-option batchSize=100
