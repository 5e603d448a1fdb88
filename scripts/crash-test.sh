#!/usr/bin/env bash
# Crash test: kill the push with SIGKILL at random points, again and again, against the sandbox
# with injected faults, resuming after each kill; then check that nothing was lost or pushed twice.
#   scripts/crash-test.sh [ROWS=8000] [KILLS=25] [SEED=7] [RESULT=docs/crash-test-result.txt]
# Writes the result to RESULT. Exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-8000}"
kills="${2:-25}"
seed="${3:-7}"
result="${4:-docs/crash-test-result.txt}"
RANDOM=$seed

swift build >/dev/null
bin="$PWD/.build/debug/refundflow"
work="$(mktemp -d)"
sandbox_pid=""
trap '[ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null; rm -rf "$work"' EXIT
export WDT_SID=crash WDT_APPKEY=crash_key WDT_APPSECRET='crash_secret:crash_salt'

"$bin" bench --rows "$rows" --dir "$work" >/dev/null 2>&1
input="$work/taobao-refunds-$rows-utf-8.csv"
"$bin" sandbox --port 0 --db "$work/sandbox.sqlite" --fail-rate 0.2 --drop-rate 0.1 --latency-ms 20 \
    --rate-limit-per-min 12000 --seed "$seed" >"$work/address" 2>/dev/null &
sandbox_pid=$!
for _ in $(seq 100); do [ -s "$work/address" ] && break; sleep 0.1; done
address="$(head -1 "$work/address")"

run_args=(run pipelines/taobao-seller-refunds-csv.yaml --set shop_no=CRASH --input "$input" --out "$work/out"
    --endpoint "$address" --target-option requestsPerMinute=0 --target-option concurrency=4
    --target-option batchSize=25 --target-option maxRetries=2 --show-errors 0)
push() { "$bin" "${run_args[@]}" >/dev/null 2>>"$work/runs.log"; }

# Calls the sandbox has accepted so far.
accepted() { curl -s "$address/_sandbox/requests" | wc -l; }

killed=0
finished=0
# At most this many accepted calls between kills: the push's calls (batches of 25) spread over
# the kills, so that every kill still finds work in progress rather than a push already done.
calls_per_kill=$(( rows / 25 / kills ))
[ "$calls_per_kill" -ge 2 ] || calls_per_kill=2
for i in $(seq "$kills"); do
    # A simple command, not the function: `$!` must be refundflow itself. (Killing a subshell
    # that runs it would leave refundflow running on: no crash at all.)
    "$bin" "${run_args[@]}" >/dev/null 2>>"$work/runs.log" &
    pid=$!
    # The kill comes after a random time (startup, read-back, ledger writes) or once the
    # sandbox has accepted a random number of further calls, whichever is first: a faster build
    # or machine must not let the runs finish before their kills.
    delay="$(( (RANDOM % 2200) + 150 ))"  # drawn here, not in a subshell: the seed decides it
    deadline="$(awk "BEGIN { print $(date +%s%N) / 1e6 + $delay }")"
    target="$(( $(accepted) + (RANDOM % calls_per_kill) + 1 ))"
    while kill -0 "$pid" 2>/dev/null; do
        [ "$(awk "BEGIN { print ($(date +%s%N) / 1e6 >= $deadline) }")" = 1 ] && break
        [ "$(accepted)" -ge "$target" ] && break
        sleep 0.02
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        killed=$((killed + 1))
    else
        finished=$((finished + 1))
    fi
    wait "$pid" 2>/dev/null || true
done

# Resume until a run ends with nothing failed or pending (faults may leave some each time).
final_runs=0
for _ in $(seq 10); do
    final_runs=$((final_runs + 1))
    push || true
    if python3 - "$work/out/report.json" "$work/stops.log" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
push = (report.get("writer") or {}).get("push")
if push is None:
    # The run stopped before pushing (e.g. the ERP read-back of unanswered calls met an injected
    # fault): safe, and the next run resumes. Recorded for the result.
    open(sys.argv[2], "a").write((report.get("fatal") or {}).get("code", "unknown") + "\n")
    sys.exit(1)
sys.exit(0 if push["failed"]["records"] == 0 else 1)
PY
    then break; fi
done

curl -s "$address/_sandbox/refunds" >"$work/stored.jsonl"
curl -s "$address/_sandbox/requests" >"$work/requests.jsonl"
"$bin" ledger show --ledger "$work/out/ledger.sqlite" --limit 100000000 >"$work/ledger.jsonl"

mkdir -p "$(dirname "$result")"
python3 - "$work" "$rows" "$kills" "$killed" "$finished" "$final_runs" "$seed" <<'PY' | tee "$result"
import json, sys
from collections import Counter
from decimal import Decimal
work, rows, kills, killed, finished, final_runs, seed = sys.argv[1:]
lines = lambda name: [json.loads(l) for l in open(f"{work}/{name}") if l.strip()]
key = lambda r: (r["shop_no"], r["refund_no"], r["oid"])
records = lines("out/records.jsonl")
rejects = lines("out/rejects.jsonl")
stored = lines("stored.jsonl")
ledger = lines("ledger.jsonl")
report = json.load(open(f"{work}/out/report.json"))
new_keys = Counter(key(k) for call in lines("requests.jsonl") for k in call["new"])

valid = {key(r) for r in records}
checks = []
def check(name, ok, detail):
    checks.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")

print(f"crash test: {rows} rows, {kills} SIGKILLs at random points ({killed} runs killed, {finished} finished before their kill), "
      f"then {final_runs} resuming run(s); sandbox --fail-rate 0.2 --drop-rate 0.1 --latency-ms 20, seed {seed}")
check("the sandbox holds exactly the valid records", {key(r) for r in stored} == valid and len(stored) == len(valid),
      f"{len(stored)} stored, {len(valid)} valid")
twice = [k for k, n in new_keys.items() if n > 1]
check("no record was accepted as new twice", not twice, f"{len(new_keys)} keys counted new, {len(twice)} more than once")
states = Counter(r["state"] for r in ledger)
check("every valid record is acknowledged in the ledger", states == Counter({"acknowledged": len(valid)}) and {key(r) for r in ledger} == valid,
      dict(states))
read = report["counts"]["read"]
check("every input row is in exactly one terminal state", read == len(records) + len(rejects) and int(rows) == read,
      f"read {read} = valid {len(records)} + rejected {len(rejects)}")
check("the final run's invariants hold", report["invariants"]["hold"], "; ".join(c["detail"] for c in report["invariants"]["checks"]))
money_in = sum(Decimal(r["refund_amount"]) for r in records)
money_ledger = sum(Decimal(r["refund_amount"]) for r in ledger)
money_erp = sum(Decimal(str(r["refund_amount"])) for r in stored)
check("money: input = ledger acknowledged = ERP", money_in == money_ledger == money_erp,
      f"refund_amount {money_in} = {money_ledger} = {money_erp}")
attempts = open(f"{work}/runs.log").read().count("found")
print(f"runs that read the ERP back before resending: {attempts}")
try:
    stops = Counter(open(f"{work}/stops.log").read().split())
except FileNotFoundError:
    stops = Counter()
print(f"resuming runs that stopped before pushing (and were resumed): {sum(stops.values())} {dict(stops) if stops else ''}".rstrip())
sys.exit(0 if all(checks) else 1)
PY
