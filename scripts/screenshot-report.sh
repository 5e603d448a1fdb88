#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium (Debian's `chromium` package) and checks it.
#   scripts/screenshot-report.sh [OUT_PNG=docs/report.png]
# Pushes the bundled GBK sample (bad rows included) to a sandbox that refuses one refund, so that
# every chart has something to show; screenshots report.html; and checks that the browser laid out
# the charts (its DOM dump holds the three figures and the invariants table).
set -euo pipefail
cd "$(dirname "$0")/.."
png="${1:-docs/report.png}"
command -v chromium >/dev/null || { echo "install Chromium first: apt-get install -y chromium fonts-noto-cjk" >&2; exit 1; }
fc-list :lang=zh | grep -q . || echo "note: no Chinese font installed (apt-get install -y fonts-noto-cjk); CJK text will show as boxes" >&2
swift build >/dev/null
bin="$PWD/.build/debug/refundflow"
work="$(mktemp -d)"
trap 'kill "$sandbox_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export WDT_SID=shot WDT_APPKEY=shot_key WDT_APPSECRET='shot_secret:shot_salt'
"$bin" sandbox --port 0 --db "$work/s.sqlite" --reject-refund-no 201234567890126 >"$work/address" 2>/dev/null &
sandbox_pid=$!
for _ in $(seq 100); do [ -s "$work/address" ] && break; sleep 0.1; done
"$bin" run pipelines/taobao-seller-refunds-csv.yaml --set shop_no=DEMO --input pipelines/samples/taobao-refunds-gbk.csv \
    --out "$work/out" --endpoint "$(head -1 "$work/address")" >/dev/null 2>&1 || true
browser=(chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1)
mkdir -p "$(dirname "$png")"
"${browser[@]}" --window-size=1024,2800 --screenshot="$PWD/$png" "file://$work/out/report.html" 2>/dev/null
"${browser[@]}" --dump-dom "file://$work/out/report.html" 2>/dev/null >"$work/dom.html"
for expected in "Records at each stage" "refund_amount of valid records by status" "Rejected records by error code" "✓ yes" "acknowledged"; do
    grep -q "$expected" "$work/dom.html" || { echo "report.html is missing '$expected' as rendered by Chromium" >&2; exit 1; }
done
size=$(stat -c %s "$png")
[ "$size" -gt 20000 ] || { echo "the screenshot is suspiciously small ($size bytes)" >&2; exit 1; }
echo "report.html rendered by $(chromium --version 2>/dev/null | head -1): $png ($size bytes); charts and invariants present"
