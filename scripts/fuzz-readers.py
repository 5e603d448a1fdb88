#!/usr/bin/env python3
"""Mutation fuzzing of the readers through the real CLI.

    scripts/fuzz-readers.py [SEED] [RUNS] [BINARY]     (default: 1, 200, .build/debug/refundflow)

Each run takes one of the bundled sample exports (CSV in UTF-8 or GBK, the .xlsx workbook, TOP
XML, JSON, JSON Lines; JSON given to the JSON Lines pipeline and the other way round too; and,
made from the JSON sample, its pages collected into one array, one response per line, and
pretty-printed responses one after another), mutates it a few times (a byte changed; a quote,
delimiter, line break, bracket, entity, CDATA, NUL, BOM, bad UTF-8 byte, DOCTYPE or long number
inserted; a span deleted, repeated or copied elsewhere; the file cut short — in a workbook, one
of its parts, mostly the sheet or the shared strings, zipped again stored or deflated, and now
and then the archive's own bytes) and runs `refundflow run --dry-run` on it. Every run must:

- end with a documented exit code (0, 2, 3 or 4; 1 with an `error:` line), never a crash or a
  hang (20 s);
- account for every record: report.json's read = valid + rejected, one line in records.jsonl
  per valid record and one in rejects.jsonl per rejected one;
- and when it wrote rejected records back (`rejects/`), that file, run again, must give back
  itself and no valid record.

Failing inputs are kept as fuzz-bad-SEED-N.* in the work directory, which is printed.
"""
import glob
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = [
    ("taobao-seller-refunds-csv.yaml", "taobao-refunds-equivalent.csv"),
    ("taobao-seller-refunds-csv.yaml", "taobao-refunds-gbk.csv"),
    ("taobao-seller-refunds-csv.yaml", "taobao-refunds-equivalent.xlsx"),
    ("taobao-top-refunds-xml.yaml", "top-refunds.xml"),
    ("taobao-top-refunds-json.yaml", "top-refunds.json"),
    ("taobao-top-refunds-jsonl.yaml", "top-refunds.jsonl"),
    ("taobao-top-refunds-json.yaml", "top-refunds.jsonl"),
    ("taobao-top-refunds-jsonl.yaml", "top-refunds.json"),
    # Made from top-refunds.json (see `sample_bytes`): pages gathered into one array, one response
    # per line, responses pretty-printed one after another, and TOP's simplified JSON.
    ("taobao-top-refunds-json.yaml", "top-refunds-pages.json"),
    ("taobao-top-refunds-jsonl.yaml", "top-refunds-responses.jsonl"),
    ("taobao-top-refunds-jsonl.yaml", "top-refunds-pretty-responses.jsonl"),
    ("taobao-top-refunds-json.yaml", "top-refunds-simplified.json"),
    ("taobao-top-refunds-jsonl.yaml", "top-refunds-simplified.jsonl"),
]


def sample_bytes(name):
    """A bundled sample's bytes, or one made from top-refunds.json by splitting it into pages."""
    path = f"{ROOT}/pipelines/samples/{name}"
    if os.path.exists(path):
        return open(path, "rb").read()
    refunds = json.load(open(f"{ROOT}/pipelines/samples/top-refunds.json", encoding="utf-8"))["refunds_receive_get_response"]["refunds"]["refund"]
    pages = [{"refunds_receive_get_response": {"refunds": {"refund": refunds[start:start + 4]}, "total_results": len(refunds)}}
             for start in range(0, len(refunds), 4)]
    if name.startswith("top-refunds-simplified"):
        # TOP's simplified JSON (simplify=true): the total first, the list a plain array.
        simple = [{"total_results": len(refunds), "refunds": refunds[start:start + 4], "request_id": "r"} for start in range(0, len(refunds), 4)]
        if name.endswith(".jsonl"):
            text = "".join(json.dumps(page, ensure_ascii=False) + "\n" for page in simple)
        else:
            text = json.dumps(simple[0], ensure_ascii=False) + "\n" + "".join(json.dumps(page, ensure_ascii=False) + "\n" for page in simple[1:])
    elif name == "top-refunds-pages.json":
        text = json.dumps(pages, ensure_ascii=False, indent=1)
    elif name == "top-refunds-responses.jsonl":
        text = "".join(json.dumps(page, ensure_ascii=False) + "\n" for page in pages)
    else:
        text = "".join(json.dumps(page, ensure_ascii=False, indent=2) + "\n" for page in pages)
    return text.encode("utf-8")
TOKENS = [b'"', b",", b"\n", b"\r", b"\r\n", b"\t", b"\\", b"\\u", b"\\ud800", b"{", b"}", b"[", b"]", b"<", b">", b"</",
          b"&", b"&amp;", b"&#0;", b"&#xD800;", b"<![CDATA[", b"]]>", b"<!--", b"-->", b"\x00", b"\xff", b"\xef\xbb\xbf",
          b"\xe4", b"9" * 30, b"-", b".", b"e", b"1e999", b'="', b"\xc2\xa0", b"null", b"true",
          b'<?xml version="1.0" encoding="GBK"?>', b"<!DOCTYPE x>", b" ", b"\xe3\x80\x80", b"\xe2\x80\x8b"]


def mutate(rnd, data):
    data = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        if not data:
            data = bytearray(b"x")
        i = rnd.randrange(len(data) + 1)
        op = rnd.randrange(6)
        if op == 0:
            data[min(i, len(data) - 1)] = rnd.randrange(256)
        elif op == 1:
            data[i:i] = rnd.choice(TOKENS)
        elif op == 2:
            del data[i:min(len(data), i + rnd.randint(1, 50))]
        elif op == 3:
            data[i:i] = data[i:min(len(data), i + rnd.randint(1, 200))] * rnd.randint(1, 3)
        elif op == 4:
            data = data[:i]
        else:
            j = rnd.randrange(len(data) + 1)
            data[i:i] = data[j:j + rnd.randint(1, 300)]
    return bytes(data)


def mutate_workbook(rnd, data):
    """An .xlsx with one part mutated (mostly the sheet or the shared strings), zipped again."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = [info.filename for info in archive.infolist()]
    parts = {name: archive.read(name) for name in names}
    weights = [6 if "worksheets" in name else 4 if "sharedStrings" in name else 1 for name in names]
    chosen = rnd.choices(names, weights)[0]
    parts[chosen] = mutate(rnd, parts[chosen])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", rnd.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) as out:
        for name in names:
            out.writestr(name, parts[name])
    result = buffer.getvalue()
    return mutate(rnd, result) if rnd.random() < 0.1 else result


def run(binary, pipeline, path, out):
    try:
        done = subprocess.run(
            [binary, "run", f"{ROOT}/pipelines/{pipeline}", "--dry-run", "--input", path, "--out", out, "--set", "shop_no=S"],
            capture_output=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
        return done.returncode, done.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", ""


def lines(path):
    with open(path, "rb") as file:
        return sum(1 for _ in file)


def problem_of(binary, pipeline, path, out):
    status, stderr = run(binary, pipeline, path, out)
    if status not in (0, 1, 2, 3, 4):
        return f"exit {status}"
    if status == 1:
        return None if "error" in stderr else "exit 1 without an error line"
    counts = json.load(open(f"{out}/report.json"))["counts"]
    if counts["read"] != counts["valid"] + counts["rejected"]:
        return f"read {counts['read']} != valid {counts['valid']} + rejected {counts['rejected']}"
    if lines(f"{out}/records.jsonl") != counts["valid"] or lines(f"{out}/rejects.jsonl") != counts["rejected"]:
        return "records.jsonl or rejects.jsonl does not hold one line per record counted"
    for refeed in glob.glob(f"{out}/rejects/*"):
        again = out + "-again"
        shutil.rmtree(again, ignore_errors=True)
        status, _ = run(binary, pipeline, refeed, again)
        written = f"{again}/rejects/{os.path.basename(refeed)}"
        if status not in (2, 4) or lines(f"{again}/records.jsonl") != 0 or not os.path.exists(written) \
                or open(written, "rb").read() != open(refeed, "rb").read():
            return f"the re-feed file {os.path.basename(refeed)}, run again, did not give back itself (exit {status})"
    return None


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    binary = sys.argv[3] if len(sys.argv) > 3 else f"{ROOT}/.build/debug/refundflow"
    rnd = random.Random(seed)
    work = tempfile.mkdtemp(prefix="refundflow-fuzz-")
    failures = 0
    for number in range(runs):
        pipeline, sample = rnd.choice(SAMPLES)
        data = mutate_workbook(rnd, sample_bytes(sample)) if sample.endswith(".xlsx") else mutate(rnd, sample_bytes(sample))
        extension = sample.rsplit(".", 1)[1]
        path, out = f"{work}/in.{extension}", f"{work}/out"
        shutil.rmtree(out, ignore_errors=True)
        with open(path, "wb") as file:
            file.write(data)
        problem = problem_of(binary, pipeline, path, out)
        if problem:
            failures += 1
            kept = f"{work}/fuzz-bad-{seed}-{number}.{extension}"
            shutil.copy(path, kept)
            print(f"run {number} ({pipeline} on a mutated {sample}): {problem}; input kept as {kept}")
    if failures:
        print(f"FAIL  {failures} of {runs} mutated inputs (seed {seed}); work directory {work}")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print(f"PASS  {runs} mutated exports (seed {seed}): no crash or hang, every record accounted for, every re-feed file gives back itself")


if __name__ == "__main__":
    main()
