#!/usr/bin/env bash
# Checks the four bundled pipelines against an independent oracle (scripts/differential_oracle.py):
# for each seed, a random seller-center CSV (UTF-8, GB18030 or UTF-16 by turns), one as an .xlsx workbook, and the same kind of TOP
# refunds as XML, JSON and JSON Lines go through `refundflow run --dry-run`, and every record must
# equal the one the oracle derived from marketplace-formats.md §4-5; the defective records (one
# in eight, every format) must be rejected at their lines with exactly the reasons they cause; and
# every dry-run request must carry those records, signed and addressed as wdt-protocol.md says
# (the qjb runs, and the CSV to 企业版, the XML to TOP and the JSON Lines to the stock-in API too);
# and report.json must count and total them as the oracle does.
#   scripts/differential-check.sh [SEEDS] [ROWS]      (default: 8 seeds of 300 rows)
# Uses the debug build (`swift build` first). Exits 1 at the first run that differs.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-8}"
rows="${2:-300}"
bin="$PWD/.build/debug/refundflow"
[ -x "$bin" ] || swift build
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
oracle="scripts/differential_oracle.py"
# Real-looking credentials (a salt with ':', '/' and '+' to URL-encode), so that every request's
# sign and URL can be re-derived; the secret part never appears in any output.
export WDT_SID=diff WDT_APPKEY=diff_key WDT_APPSECRET='diffsecret:diff:salt/+'
export TOP_APPKEY=diff_top TOP_SECRET=diff_top_secret TOP_SESSION=diff-top-session
check_requests() {  # OUT_DIR
    python3 "$oracle" check-requests "$1/records.jsonl" "$1/requests.jsonl"
    if grep -rqE "diffsecret|diff_top_secret|diff-top-session" "$1"; then echo "$1: a secret appears in an output" >&2; exit 1; fi
}
refeed_again() {  # PIPELINE REFEED_FILE OUT_DIR EXPECTED_REJECTS: the re-feed file, run again, gives back
    # itself, no record, and one reject per expected reject that is not only a duplicate
    local name; name=$(basename "$2")
    run_ok "$1" --set shop_no=D --input "$2" --out "$3" --dry-run
    local want; want=$(python3 -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1])) if any(c != "duplicate" for c, _ in r["errors"])))' "$4")
    [ ! -s "$3/records.jsonl" ] && cmp -s "$2" "$3/rejects/$name" && [ "$(wc -l < "$3/rejects.jsonl")" = "$want" ] \
        || { echo "$2: run again, the re-feed file did not give back the same rejected records ($want expected)" >&2; exit 1; }
    echo "$2: run again, gives back itself: $want rejects, no record"
}
run_ok() {  # a run must complete, with or without rejects (exit 0 or 2)
    local status=0
    "$bin" run "$@" >/dev/null 2>&1 || status=$?
    [ "$status" = 0 ] || [ "$status" = 2 ] || { echo "refundflow run $*: exited $status" >&2; exit 1; }
}
for seed in $(seq 1 "$seeds"); do
    encodings=(gb18030 utf-8 utf-16)
    encoding=${encodings[$((seed % 3))]}
    python3 "$oracle" csv "$seed" "$rows" "$encoding" "$work"
    run_ok pipelines/taobao-seller-refunds-csv.yaml --set shop_no=D --input "$work/in-$seed.csv" --out "$work/out-csv-$seed" --dry-run
    python3 "$oracle" compare "$work/expected-$seed.json" "$work/out-csv-$seed/records.jsonl"
    python3 "$oracle" compare-rejects "$work/expected-rejects-$seed.json" "$work/out-csv-$seed/rejects.jsonl"
    check_requests "$work/out-csv-$seed"
    # The rejected rows written back as the export had them; run again, each is rejected again.
    python3 "$oracle" check-refeed "$work/expected-refeed-$seed.csv" "$work/out-csv-$seed/rejects/in-$seed.csv"
    if [ -s "$work/expected-refeed-$seed.csv" ]; then
        refeed_again pipelines/taobao-seller-refunds-csv.yaml "$work/out-csv-$seed/rejects/in-$seed.csv" "$work/out-refeed-csv-$seed" \
            "$work/expected-rejects-$seed.json"
    fi
    # The same export to the 企业版 API: its own sign, each record sent once.
    run_ok pipelines/taobao-seller-refunds-csv.yaml --set shop_no=D --target wdt-enterprise-refund --input "$work/in-$seed.csv" \
        --out "$work/out-enterprise-$seed" --dry-run
    check_requests "$work/out-enterprise-$seed"
    python3 "$oracle" check-report "$work/expected-$seed.json" "$work/expected-rejects-$seed.json" "$work/out-csv-$seed/report.json"
    # The same kind of export as the seller center's .xlsx workbook, through the same pipeline: a
    # reject's line is its sheet row; the re-feed file is CSV, which run again gives back itself.
    python3 "$oracle" xlsx "$seed" "$rows" "$work"
    run_ok pipelines/taobao-seller-refunds-csv.yaml --set shop_no=D --input "$work/in-$seed.xlsx" --out "$work/out-xlsx-$seed" --dry-run
    python3 "$oracle" compare "$work/expected-xlsx-$seed.json" "$work/out-xlsx-$seed/records.jsonl"
    python3 "$oracle" compare-rejects "$work/expected-rejects-xlsx-$seed.json" "$work/out-xlsx-$seed/rejects.jsonl"
    check_requests "$work/out-xlsx-$seed"
    python3 "$oracle" check-report "$work/expected-xlsx-$seed.json" "$work/expected-rejects-xlsx-$seed.json" "$work/out-xlsx-$seed/report.json"
    refeed_again pipelines/taobao-seller-refunds-csv.yaml "$work/out-xlsx-$seed/rejects/in-$seed.csv" "$work/out-refeed-xlsx-$seed" \
        "$work/expected-rejects-xlsx-$seed.json"
    python3 "$oracle" top "$seed" "$rows" "$work"
    for format in xml json jsonl; do
        run_ok "pipelines/taobao-top-refunds-$format.yaml" --set shop_no=D --input "$work/top-$seed.$format" --out "$work/out-$format-$seed" --dry-run
        python3 "$oracle" compare "$work/expected-top-$seed.json" "$work/out-$format-$seed/records.jsonl"
        python3 "$oracle" compare-rejects "$work/expected-rejects-top-$seed.$format.json" "$work/out-$format-$seed/rejects.jsonl"
        check_requests "$work/out-$format-$seed"
        if [ "$format" = jsonl ]; then
            python3 "$oracle" check-refeed "$work/expected-refeed-top-$seed.jsonl" "$work/out-jsonl-$seed/rejects/top-$seed.jsonl"
        elif [ -f "$work/out-$format-$seed/rejects/top-$seed.$format" ]; then
            # XML and JSON documents: the rejected refunds in a document (an array) of their own.
            refeed_again "pipelines/taobao-top-refunds-$format.yaml" "$work/out-$format-$seed/rejects/top-$seed.$format" \
                "$work/out-refeed-$format-$seed" "$work/expected-rejects-top-$seed.$format.json"
        else
            echo "seed $seed: no re-feed file for the $format refunds" >&2; exit 1
        fi
        python3 "$oracle" check-report "$work/expected-top-$seed.json" "$work/expected-rejects-top-$seed.$format.json" \
            "$work/out-$format-$seed/report.json"
    done
    # The TOP refunds to TOP's alibaba.wdk.trade.refund.create: HMAC-SHA256, one refund a call.
    run_ok pipelines/taobao-top-refunds-xml.yaml --set shop_no=D --target top-wdk-refund --target-option shopId=S1 \
        --input "$work/top-$seed.xml" --out "$work/out-top-$seed" --dry-run
    check_requests "$work/out-top-$seed"
    # And the JSON Lines as returned goods to a warehouse (wms.stockin.SmartRefund.upload; records
    # without a spec_no are that target's rejects).
    run_ok pipelines/taobao-top-refunds-jsonl.yaml --set shop_no=D --target wdt-qjb-stockin --target-option warehouseNo=W1 \
        --input "$work/top-$seed.jsonl" --out "$work/out-stockin-$seed" --dry-run
    check_requests "$work/out-stockin-$seed"
done
echo "PASS  $seeds seeds × $rows rows × 5 formats (CSV, .xlsx, XML, JSON, JSON Lines): every record, reject, re-feed row, request and report total as the oracle derives them"
