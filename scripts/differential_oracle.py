#!/usr/bin/env python3
"""An independent oracle for the bundled Taobao pipelines.

Generates random refund exports from a seed -- seller-center CSV (UTF-8 with or without a BOM,
GB18030, or UTF-16 as Excel's "Unicode Text"; commas or tabs; a title line before the header,
blank lines and a totals row now and then; shuffled columns, named as one of the export versions names them; Excel id wrappers;
money with ¥/￥, thousands groups, 元 and trailing zeros; five date styles; every status label;
quoted CRLF, commas and quotes) and TOP responses as XML, JSON and JSON Lines (ids and money as
numbers or strings, CDATA, entities, self-closing empty elements; one response, or pages of one
saved one after another) -- and, written here from
marketplace-formats.md §4-5 and not from RefundFlow's code, what a run must make of them:

- `compare`: the canonical records, field by field;
- `compare-rejects`: one record in eight (every format) has one defect (a decimal comma, an id
  that went through Excel or a double, 5 decimals, an unknown status or an exchange-flow one, no buyer nick, a
  256-character title, 30 February, a duplicate key) and is rejected at its physical line with
  exactly the (code, field)s it causes; one CSV row in a hundred is cut short (`malformed`) and
  one has undecodable bytes (`encoding`);
- `check-requests`: every dry-run request signed, addressed and encoded as wdt-protocol.md says
  for its family ((a) qjb RawRefund.upload and SmartRefund.upload, (b) 企业版, (c) TOP),
  carrying every record once (RawRefund.upload: whole and in order);
- `check-report`: report.json's counts and money per status.

    differential_oracle.py csv SEED ROWS utf-8|gb18030|utf-16 DIR  -> DIR/in-SEED.csv, DIR/expected-SEED.json,
                                                                DIR/expected-rejects-SEED.json
    differential_oracle.py xlsx SEED ROWS DIR                -> DIR/in-SEED.xlsx, DIR/expected-xlsx-SEED.json,
                                                                DIR/expected-rejects-xlsx-SEED.json
    differential_oracle.py top SEED ROWS DIR                 -> DIR/top-SEED.{xml,json,jsonl}, DIR/expected-top-SEED.json,
                                                                DIR/expected-rejects-top-SEED.{xml,json,jsonl}.json
    differential_oracle.py compare EXPECTED.json RECORDS.jsonl
    differential_oracle.py compare-rejects EXPECTED-REJECTS.json REJECTS.jsonl
    differential_oracle.py check-requests RECORDS.jsonl REQUESTS.jsonl     (credentials from the environment)
    differential_oracle.py check-report EXPECTED.json EXPECTED-REJECTS.json REPORT.json
"""
import csv
import io
import json
import os
import random
import sys
from decimal import Decimal
from xml.sax.saxutils import escape


def out_money(d):
    """Canonical money: plain decimal, at least 2 places, trailing zeros past them dropped."""
    whole, _, frac = format(d, "f").partition(".")
    frac = frac.rstrip("0")
    return whole + "." + (frac + "00")[: max(2, len(frac))]


def out_num(d):
    s = format(d, "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def clean_text(s):
    return s.replace("\r\n", "\n").strip(" \t\r\n")


def random_date(rnd, styles):
    y, mo, da = 2024, rnd.randint(1, 12), rnd.randint(1, 28)
    h, mi, se = rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59)
    style = rnd.choice(styles)
    if style == 0:
        text = f"{y}-{mo:02d}-{da:02d} {h:02d}:{mi:02d}:{se:02d}"
    elif style == 1:
        text, se = f"{y}-{mo:02d}-{da:02d} {h:02d}:{mi:02d}", 0
    elif style == 2:
        text, se = f"{y}/{mo}/{da} {h}:{mi:02d}", 0
    elif style == 3:
        text = f"{y}/{mo}/{da} {h}:{mi:02d}:{se:02d}"
    else:
        text, se = f"{y}年{mo}月{da}日 {h}:{mi:02d}", 0
    return text, f"{y}-{mo:02d}-{da:02d} {h:02d}:{mi:02d}:{se:02d}"


BAD_BYTES_MARK = "@@undecodable@@"

CSV_HEADER = (
    "订单编号 退款编号 支付宝交易号 订单付款时间 商品编码 退款完结时间 买家会员名称 买家实际支付金额 宝贝标题 买家退款金额 "
    "手工退款/系统退款 是否需要退货 退款的申请时间 超时时间 退款状态 货物状态 退货物流信息 发货物流信息 客服介入状态 卖家真实姓名 "
    "卖家真实姓名新 卖家退货地址 卖家邮编 卖家电话 卖家手机 退货物流单号 退货物流公司 买家退款原因 买家退款说明 买家退货时间 责任方 "
    "售中或售后 商家备注 完结时间 部分退款/全部退款 审核操作人 举证超时 是否零秒响应 退款操作人 退款原因标签 业务类型 是否帮他退款 "
    "帮他退款操作账号 子订单编号 退款数量 商品单价 售后类型 商品id"
).split()

CSV_STATUS = {
    5: ["退款成功", "SUCCESS"],
    1: ["退款关闭", "CLOSED"],
    2: ["买家已经申请退款，等待卖家同意", "买家已经申请退款,等待卖家同意", "等待卖家同意", "WAIT_SELLER_AGREE", "卖家拒绝退款", "SELLER_REFUSE_BUYER"],
    3: ["卖家已经同意退款，等待买家退货", "等待买家退货", "WAIT_BUYER_RETURN_GOODS"],
    4: ["买家已经退货，等待卖家确认收货", "等待卖家确认收货", "WAIT_SELLER_CONFIRM_GOODS"],
}


def csv_export(seed, rows, encoding, directory, workbook=False):
    """With `workbook`, the same kind of export as the seller center's .xlsx (`write_workbook`):
    no ragged rows or undecodable bytes (a workbook has neither), and a reject's line is its row."""
    rnd = random.Random(seed)
    utf8 = workbook or encoding != "gb18030"  # UTF-8, or UTF-16 (Excel's "Unicode Text"): any character
    header = list(CSV_HEADER)
    rnd.shuffle(header)
    texts = ["纯棉T恤 白色/XL", 'Cup, 500ml "big"', "line1\r\nline2", '含逗号,和引号"', "  padded  ", "&<>'", "a\tb"]
    if utf8:
        texts += ["emoji 😀 ok", "é ü"]

    def money():
        units = rnd.choice([0, 1, 99, 1050, 123456, 100000000, 9999999, 5]) * rnd.choice([1, 1, 10, 100])
        return Decimal(units + rnd.choice([0, 0, 1, 25, 5000])) / Decimal(10000)

    def money_text(d):
        whole, _, frac = format(d.normalize() if d != 0 else Decimal(0), "f").partition(".")
        pad = rnd.choice([0, 0, 2, 4])
        if pad:
            frac = (frac + "0000")[: max(len(frac), pad)]
        if rnd.random() < 0.3 and len(whole) > 3:
            groups = []
            while len(whole) > 3:
                groups.insert(0, whole[-3:])
                whole = whole[:-3]
            whole = whole + "," + ",".join(groups)
        text = whole + ("." + frac if frac else "")
        prefix = rnd.choice(["", "", "￥", "¥" if utf8 else "￥", " "])  # ¥ (U+00A5) has no GBK code
        return prefix + text + rnd.choice(["", "", " ", "元"])

    def excel_id(text):
        return rnd.choice([text, text, '="' + text + '"', text + "\t", "\t" + text, "'" + text, " " + text + " "])

    table, expected, rejects = [], [], []
    kept_keys = []  # (refund_no, oid) of valid rows, for duplicates
    for i in range(rows):
        row = {name: "" for name in header}
        refund_no = str(200000000000000 + seed * 100000 + i)
        tid = str(3000000000000000000 + rnd.randint(0, 10**15))
        oid = str(int(tid) + rnd.randint(0, 9))
        row["退款编号"], row["订单编号"], row["子订单编号"] = excel_id(refund_no), excel_id(tid), excel_id(oid)
        num = Decimal(rnd.choice([1, 2, 3, 10])) if rnd.random() < 0.9 else Decimal("1.5")
        row["退款数量"] = format(num, "f")
        amount, price = money(), money()
        row["买家退款金额"], row["商品单价"] = money_text(amount), money_text(price)
        status = rnd.choice([1, 2, 3, 4, 5])
        label = rnd.choice(CSV_STATUS[status])
        row["退款状态"] = label
        kind = row["售后类型"] = rnd.choice(["", "仅退款", "退货退款", "换货"])
        returned = row["是否需要退货"] = rnd.choice(["是", "否", ""])
        goods = row["货物状态"] = rnd.choice(["未发货", "未收到货", "已收到货"])
        refund_type = 3 if kind == "换货" else 2 if (returned == "是" or kind == "退货退款") else 1 if goods == "未发货" else 4
        phase = row["售中或售后"] = rnd.choice(["售中", "售后"])
        title = row["宝贝标题"] = rnd.choice(texts)
        nick = row["买家会员名称"] = rnd.choice(["t**1", "张三", "b*c"])
        row["退款的申请时间"], created = random_date(rnd, [0, 1, 2, 3, 4])
        row["退款完结时间"], ended = random_date(rnd, [0, 1, 2, 3, 4])
        reason = row["买家退款原因"] = rnd.choice(["质量问题", "不想要了", "7天无理由"])
        remark = row["买家退款说明"] = rnd.choice(["", "说明\r\n第二行", "ok"])
        waybill = row["退货物流单号"] = rnd.choice(["", "SF123", "YT8800001"])
        carrier = row["退货物流公司"] = rnd.choice(["", "顺丰速运"]) if waybill else ""
        row["发货物流信息"] = "OUTBOUND-NEVER-THE-RETURN-WAYBILL"
        sku = row["商品编码"] = rnd.choice(["", "SKU-1"])
        goods_id = row["商品id"] = rnd.choice(["", "600123"])
        pay = row["支付宝交易号"] = rnd.choice(["", "2024090122001100001"])
        success = label in ("退款成功", "SUCCESS")
        record = {
            "shop_no": "D", "refund_no": refund_no, "num": out_num(num), "tid": tid, "oid": oid, "type": refund_type,
            "status": 2 if label in ("卖家拒绝退款", "SELLER_REFUSE_BUYER") else status, "refund_version": "1",
            "refund_amount": out_money(amount), "actual_refund_amount": out_money(amount) if success else "0.00",
            "title": clean_text(title), "logistics_name": carrier, "logistics_no": waybill, "buyer_nick": nick,
            "refund_time": created, "is_aftersale": 1 if phase == "售后" else 0, "reason": reason, "price": out_money(price),
        }
        if success:
            record["current_phase_timeout"] = ended
        for key, value in (("remark", clean_text(remark)), ("spec_no", sku), ("goods_no", goods_id), ("pay_no", pay)):
            if value:
                record[key] = value
        # One row in eight gets one defect; the reject must carry every (code, field) it causes.
        errors = add_defect(rnd, row, CSV_DEFECT_FIELDS, success, kept_keys, wrap=excel_id)
        cells = [row[name] for name in header]
        if not errors and not workbook and rnd.random() < 0.01:
            # A ragged row: the structure is broken, nothing else is said. Half the cells at least,
            # so that some hold a value (a row of only delimiters is a blank line, no record).
            cells = cells[: rnd.randrange(len(cells) // 2, len(cells) - 1)]
            errors = {("malformed", None)}
        elif not errors and not workbook and encoding != "utf-16" and rnd.random() < 0.01:
            # Bytes that are not text in the file's encoding, in the title: an `encoding` reject.
            cells[header.index("宝贝标题")] = "坏" + BAD_BYTES_MARK
            errors = {("encoding", "宝贝标题")}
        table.append(cells)
        if errors:
            rejects.append({"record": i + 1, "errors": sorted(errors, key=str)})
        else:
            expected.append(record)
            kept_keys.append((refund_no, oid))
    if workbook:
        write_workbook(rnd, seed, directory, header, table, expected, rejects, rows)
        return
    terminator = rnd.choice(["\r\n", "\n"])
    # Excel's "Unicode Text" is UTF-16 with tabs; a CSV is tab-separated now and then too.
    delimiter = "\t" if encoding == "utf-16" or rnd.random() < 0.2 else ","
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=terminator, delimiter=delimiter)
    title = rnd.random() < 0.2
    if title:  # a title line before the header, as some exports write
        text.write("退款管理导出 2024-09-01" + terminator)
    # Export versions name some columns differently; the bundled pipeline reads each name.
    renames = {
        "买家退款金额": rnd.choice(["买家退款金额", "退款金额", "退款总额"]),
        "买家会员名称": rnd.choice(["买家会员名称", "买家昵称"]),
        "支付宝交易号": rnd.choice(["支付宝交易号", "支付单号"]),
        "商品id": rnd.choice(["商品id", "商品 id", "商品ID"]),
    }
    if rnd.random() < 0.5:  # the finish time under 完结时间 (the other column of that name renamed away)
        renames.update({"退款完结时间": "完结时间", "完结时间": "完结时间(旧)"})
    names = [renames.get(name, name) for name in header]
    header_line = io.StringIO()
    csv.writer(header_line, lineterminator=terminator, delimiter=delimiter).writerow(names)
    header_text = header_line.getvalue()
    text.write(header_text)
    line = 2 + title  # the physical line of the next row (quoted line breaks count)
    starts = []
    row_texts = []  # each record's text as written, for the re-feed file
    for cells in table:
        if rnd.random() < 0.02:  # a blank line, or one of only delimiters (Excel's formatted empty row): no record
            text.write(rnd.choice(["", delimiter * 5]) + terminator)
            line += 1
        starts.append(line)
        row = io.StringIO()  # the row alone, to count its lines without copying the file so far
        csv.writer(row, lineterminator=terminator, delimiter=delimiter).writerow(cells)
        text.write(row.getvalue())
        row_texts.append(row.getvalue())
        line += row.getvalue().count("\n")
    if rnd.random() < 0.1:
        # A totals row a spreadsheet added under the data: one `malformed` reject, named by its first column.
        totals = io.StringIO()
        csv.writer(totals, lineterminator=terminator, delimiter=delimiter).writerow(["合计"] + [""] * (len(header) - 1))
        text.write(totals.getvalue())
        row_texts.append(totals.getvalue())
        rejects.append({"record": rows + 1, "errors": [("malformed", names[0])]})
        starts.append(line)
    for reject in rejects:
        reject["line"] = starts[reject["record"] - 1]
    content = text.getvalue()
    # The re-feed file: the rejected rows (not those only duplicates) as the file has them, under
    # its header line (no title line: the reader finds the header without it), BOM kept; UTF-16
    # is read converted to UTF-8, and written back so.
    refeed = header_text + "".join(row_texts[r["record"] - 1] for r in rejects if any(code != "duplicate" for code, _ in r["errors"]))
    def encoded(text, bom):
        # 0xFF is never UTF-8; 0x81 0x20 is a GB18030 lead byte with no valid second byte.
        return (bom + text).encode("utf-8" if utf8 else "gb18030").replace(BAD_BYTES_MARK.encode(), b"\xff" if utf8 else b"\x81\x20")
    if encoding == "utf-16":
        data = ("\ufeff" + content).encode("utf-16-le")
        refeed_data = encoded(refeed, "\ufeff")
    else:
        bom = "\ufeff" if utf8 and rnd.random() < 0.5 else ""
        data = encoded(content, bom)
        refeed_data = encoded(refeed, bom)
    with open(f"{directory}/in-{seed}.csv", "wb") as out:
        out.write(data)
    with open(f"{directory}/expected-refeed-{seed}.csv", "wb") as out:
        out.write(refeed_data if refeed != header_text else b"")
    with open(f"{directory}/expected-{seed}.json", "w") as out:
        json.dump(expected, out, ensure_ascii=False)
    with open(f"{directory}/expected-rejects-{seed}.json", "w") as out:
        json.dump(rejects, out, ensure_ascii=False)


def write_workbook(rnd, seed, directory, header, table, expected, rejects, rows):
    """The table as the seller center's .xlsx: sheet `export` (a notes sheet after it), a title row
    now and then, the header named as an export version names it, rows left out of the sheet now
    and then (empty rows), text as shared or inline strings (a CR as Excel's _x000D_ or as &#13;),
    plain decimals in the money and quantity columns as number cells, and exact times as date
    cells (serial numbers in a date style); a totals row now and then. Each reject's line is its
    row in the sheet."""
    import datetime
    import zipfile
    renames = {"买家退款金额": rnd.choice(["买家退款金额", "退款金额", "退款总额"]), "买家会员名称": rnd.choice(["买家会员名称", "买家昵称"])}
    names = [renames.get(name, name) for name in header]
    strings, index = [], {}

    def xml_text(value):
        cr = rnd.choice(["_x000D_", "&#13;"])
        return escape(value).replace("\r", cr)

    def cell(ref, value, column_name):
        if value == "":
            return ""
        if column_name in ("退款数量", "买家退款金额", "商品单价") and value.replace(".", "", 1).isdigit() and rnd.random() < 0.7:
            return f'<c r="{ref}"><v>{value}</v></c>'
        if column_name in ("退款的申请时间", "退款完结时间") and rnd.random() < 0.5:
            try:
                moment = datetime.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
                serial = (moment - datetime.datetime(1899, 12, 30)).total_seconds() / 86400
                return f'<c r="{ref}" s="1"><v>{serial!r}</v></c>'
            except ValueError:
                pass
        if rnd.random() < 0.2:
            return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{xml_text(value)}</t></is></c>'
        if value not in index:
            index[value] = len(strings)
            strings.append(value)
        return f'<c r="{ref}" t="s"><v>{index[value]}</v></c>'

    def column_letters(number):
        letters = ""
        number += 1
        while number:
            number, rest = divmod(number - 1, 26)
            letters = chr(65 + rest) + letters
        return letters

    sheet_rows, row = [], 1
    def add(cells, names_for_cells):
        sheet_rows.append(f'<row r="{row}">' + "".join(cell(f"{column_letters(i)}{row}", v, names_for_cells[i] if i < len(names_for_cells) else "")
                                                    for i, v in enumerate(cells)) + "</row>")
    if rnd.random() < 0.2:
        add(["退款管理导出 2024-09-01"], [""])
        row += 1
    add(names, [""] * len(names))
    row += 1
    starts = []
    for cells in table:
        if rnd.random() < 0.02:
            row += 1  # a row the sheet leaves out (an empty row in Excel): no record
        starts.append(row)
        add(cells, header)
        row += 1
    if rnd.random() < 0.1:
        add(["合计"] + [""] * (len(header) - 1), header)
        rejects.append({"record": rows + 1, "errors": [("malformed", names[0])]})
        starts.append(row)
    for reject in rejects:
        reject["line"] = starts[reject["record"] - 1]
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        "_rels/.rels": f'<Relationships xmlns="{package}"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets><sheet name="export" sheetId="1" r:id="rId1"/>'
                           f'<sheet name="说明" sheetId="2" r:id="rId2"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{package}">'
                                      f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
                                      f'<Relationship Id="rId2" Type="{rel}/worksheet" Target="worksheets/sheet2.xml"/>'
                                      f'<Relationship Id="rId3" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
                                      f'<Relationship Id="rId4" Type="{rel}/styles" Target="styles.xml"/></Relationships>',
        "xl/styles.xml": f'<styleSheet xmlns="{main}"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
                         '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}"><sheetData>' + "".join(sheet_rows) + "</sheetData></worksheet>",
        "xl/worksheets/sheet2.xml": f'<worksheet xmlns="{main}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>说明</t></is></c></row></sheetData></worksheet>',
    }
    parts["xl/sharedStrings.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{main}">'
                                     + "".join(f'<si><t xml:space="preserve">{xml_text(v)}</t></si>' for v in strings) + "</sst>")
    with zipfile.ZipFile(f"{directory}/in-{seed}.xlsx", "w", rnd.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])) as archive:
        for name, text in parts.items():
            archive.writestr(name, text.encode("utf-8"))
    with open(f"{directory}/expected-xlsx-{seed}.json", "w") as out:
        json.dump(expected, out, ensure_ascii=False)
    with open(f"{directory}/expected-rejects-xlsx-{seed}.json", "w") as out:
        json.dump(rejects, out, ensure_ascii=False)


# The defects a record may get, one at a time: (what, bad value in CSV, bad value in TOP, the
# (code, canonical field) it causes). Where the CSV and TOP fields are named is below.
DEFECTS = [
    ("refund_fee", "12,50", "12,50", ("invalid_number", "refund_amount")),  # a decimal comma
    ("oid", "3.50000E+18", "3.05e+18 as a number", ("invalid_id", "oid")),  # Excel's, or a double's, long id
    ("price", "19.99999", "19.99999 as a number", ("too_many_decimals", "price")),
    ("status", "REFUND_SUCCESS", "REFUND_SUCCESS", ("unknown_value", "status")),  # a look-alike, not Taobao's
    # TOP's exchange flow: WDT's upload has no status for it, so the bundled pipelines leave it out.
    ("status", "EXCHANGE_TRANSFORM_TO_REFUND", "WAIT_SELLER_CONSIGN_GOODS", ("unknown_value", "status")),
    ("buyer_nick", "  ", None, ("missing", "buyer_nick")),
    ("title", "长" * 256, "长" * 256, ("too_long", "title")),
    ("created", "2024-02-30 10:00:00", "2024-02-30 10:00:00", ("invalid_date", "refund_time")),
]
CSV_DEFECT_FIELDS = {"refund_fee": "买家退款金额", "oid": "子订单编号", "price": "商品单价", "status": "退款状态",
                     "buyer_nick": "买家会员名称", "title": "宝贝标题", "created": "退款的申请时间", "refund_id": "退款编号"}
TOP_DEFECT_FIELDS = {name: name for name in CSV_DEFECT_FIELDS}


def add_defect(rnd, record, fields, success, kept_keys, wrap=lambda value: value):
    """With probability 1/8, gives `record` (a CSV row or a TOP refund, its fields named by
    `fields`) one defect, or the key of an earlier valid record (each part through `wrap`);
    returns the (code, field)s due."""
    if rnd.random() >= 0.125:
        return set()
    choice = rnd.randrange(len(DEFECTS) + 1)
    if choice == len(DEFECTS):
        if not kept_keys:
            return set()
        refund_id, oid = rnd.choice(kept_keys)
        record[fields["refund_id"]], record[fields["oid"]] = wrap(refund_id), wrap(oid)
        return {("duplicate", "refund_no+oid")}
    what, csv_value, top_value, error = DEFECTS[choice]
    is_csv = fields is CSV_DEFECT_FIELDS
    value = csv_value if is_csv else top_value
    if isinstance(value, str) and value.endswith(" as a number"):
        value = RawNumber(value.removesuffix(" as a number"))
    record[fields[what]] = value
    # The actual amount is the refund amount once SUCCESS: a bad refund amount is bad twice then.
    if what == "refund_fee" and success:
        return {error, ("invalid_number", "actual_refund_amount")}
    return {error}


class RawNumber(str):
    """A value written as a bare JSON number (XML: its text), e.g. an id that went through a double."""


def top_exports(seed, rows, directory):
    rnd = random.Random(seed)
    texts = ["纯棉T恤 白色/XL", 'Cup, 500ml "big" & <lid>', "line1\r\nline2", "  padded  ", "emoji 😀", "a'b", "]]> tricky"]
    statuses = {"WAIT_SELLER_AGREE": 2, "WAIT_BUYER_RETURN_GOODS": 3, "WAIT_SELLER_CONFIRM_GOODS": 4, "SELLER_REFUSE_BUYER": 2, "CLOSED": 1, "SUCCESS": 5}
    refunds, expected, rejects = [], [], []
    kept_keys = []
    for i in range(rows):
        refund_id = 146535512261065 + seed * 100000 + i
        tid = 3050123456789012345 + rnd.randint(0, 10**12)
        oid = tid + rnd.randint(0, 5)
        status = rnd.choice(list(statuses))
        dispute = rnd.choice(["REFUND", "REFUND_AND_RETURN", "TMALL_EXCHANGE", "TAOBAO_EXCHANGE", "REPAIR", None])
        has_return = rnd.choice([True, False])
        good = rnd.choice(["BUYER_NOT_RECEIVED", "BUYER_RECEIVED", "BUYER_RETURNED_GOODS"])
        order = rnd.choice(["WAIT_SELLER_SEND_GOODS", "TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO", "TRADE_FINISHED", "WAIT_BUYER_CONFIRM_GOODS"])
        fee = Decimal(rnd.choice([1990, 25277, 5, 100000, 1234567, 10])) / 100
        price = Decimal(rnd.choice([995, 25277, 1, 100000])) / 100
        created = random_date(rnd, [0])[0]
        ended = random_date(rnd, [0])[0] if status == "SUCCESS" or rnd.random() < 0.5 else ""
        refund = dict(
            refund_id=refund_id, tid=tid, oid=oid, status=status, has_good_return=has_return, good_status=good, order_status=order,
            refund_fee=fee, price=price, num=rnd.choice([1, 2, 3]), created=created, end_time=ended, title=rnd.choice(texts),
            desc=rnd.choice(["", "拍错了", "漏水\r\n第二次"]), company_name=rnd.choice(["", "圆通速递"]), outer_id=rnd.choice(["", "TS-WHITE-XL"]),
            num_iid=rnd.choice([None, 600123456789]), alipay_no=rnd.choice(["", "2024090122001100001"]), refund_phase=rnd.choice(["onsale", "aftersale"]),
            buyer_nick=rnd.choice(["t**1", "张三"]), reason=rnd.choice(["不想要了", "质量问题"]),
        )
        refund["sid"] = rnd.choice(["", "YT8800001"]) if refund["company_name"] else ""
        if dispute:
            refund["dispute_type"] = dispute
        not_shipped = good == "BUYER_NOT_RECEIVED" and order in ("WAIT_SELLER_SEND_GOODS", "TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO")
        record = {
            "shop_no": "D", "refund_no": str(refund_id), "num": str(refund["num"]), "tid": str(tid), "oid": str(oid),
            "type": 3 if dispute in ("TMALL_EXCHANGE", "TAOBAO_EXCHANGE") else 2 if has_return else 1 if not_shipped else 4,
            "status": statuses[status], "refund_version": "1", "refund_amount": out_money(fee),
            "actual_refund_amount": out_money(fee) if status == "SUCCESS" else "0.00", "title": clean_text(refund["title"]),
            "logistics_name": refund["company_name"], "logistics_no": refund["sid"], "buyer_nick": refund["buyer_nick"],
            "refund_time": created, "is_aftersale": 1 if refund["refund_phase"] == "aftersale" else 0, "reason": refund["reason"],
            "price": out_money(price),
        }
        if status == "SUCCESS" and ended:
            record["current_phase_timeout"] = ended
        for key, value in (("remark", clean_text(refund["desc"])), ("spec_no", refund["outer_id"]),
                           ("goods_no", str(refund["num_iid"] or "")), ("pay_no", refund["alipay_no"])):
            if value:
                record[key] = value
        errors = add_defect(rnd, refund, TOP_DEFECT_FIELDS, status == "SUCCESS", kept_keys)
        refunds.append(refund)
        if errors:
            rejects.append({"record": i + 1, "errors": sorted(errors)})
        else:
            expected.append(record)
            kept_keys.append((refund_id, oid))
    with open(f"{directory}/expected-top-{seed}.json", "w") as out:
        json.dump(expected, out, ensure_ascii=False)

    def write_rejects(format, line_of):
        with open(f"{directory}/expected-rejects-top-{seed}.{format}.json", "w") as out:
            json.dump([dict(reject, line=line_of(reject["record"] - 1)) for reject in rejects], out, ensure_ascii=False)

    def json_value(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "null"
        if isinstance(value, RawNumber):
            return str(value)
        if isinstance(value, (Decimal, int)):  # a number, or the same as a string
            return str(value) if rnd.random() < 0.6 else json.dumps(str(value))
        return json.dumps(value, ensure_ascii=rnd.random() < 0.5)

    objects = ["{" + ",".join(json.dumps(k) + ":" + json_value(v) for k, v in r.items()) + "}" for r in refunds]

    def pages():
        """The refunds' indexes as one response, or (half the time) as pages of a paged call
        saved one after another into the file, as a paging script writes them."""
        if rnd.random() < 0.5:
            return [range(rows)]
        size = rnd.randint(1, 100)
        return [range(start, min(start + size, rows)) for start in range(0, rows, size)]

    def write(format, pieces, starts):
        with open(f"{directory}/top-{seed}.{format}", "w", newline="") as out:
            out.write("".join(pieces))
        write_rejects(format, lambda index: starts[index])

    class Text:
        """Text built piece by piece, counting its lines as it goes."""
        def __init__(self):
            self.pieces, self.line = [], 1
        def add(self, piece):
            self.pieces.append(piece)
            self.line += piece.count("\n")

    # JSON Lines: one refund per line, or one response (a page) per line. The re-feed file holds
    # the rejected refunds (not only duplicates) as written: a line that is one, or the object
    # in a response line, on a line of its own.
    # Responses wrapped as TOP writes them, or in its simplified JSON (simplify=true: no wrapper,
    # the list a plain array, its total before or after it).
    simplified = rnd.random() < 0.3

    def response(records, tail):
        if not simplified:
            return '{"refunds_receive_get_response":{"refunds":{"refund":[' + records + ']},' + tail + '}}'
        return '{' + tail + ',"refunds":[' + records + ']}' if rnd.random() < 0.5 else '{"refunds":[' + records + '],' + tail + '}'

    text, starts, refeed = Text(), [], []
    rejected = {r["record"] - 1 for r in rejects if any(code != "duplicate" for code, _ in r["errors"])}
    for page in pages():
        if len(page) == rows and rnd.random() < 0.5:
            for index in page:
                starts.append(text.line)
                text.add(objects[index] + "\n")
                if index in rejected:
                    refeed.append(objects[index] + "\n")
        else:
            starts += [text.line] * len(page)
            text.add(response(",".join(objects[index] for index in page), f'"total_results":{rows}') + "\n")
            refeed += [objects[index] + "\n" for index in page if index in rejected]
    write("jsonl", text.pieces, starts)
    with open(f"{directory}/expected-refeed-top-{seed}.jsonl", "w", newline="") as out:
        out.write("".join(refeed))

    # JSON: one document, or pages one after another, or pages collected into one array; a
    # record's line is where its object starts.
    text, starts = Text(), []
    in_array = rnd.random() < 0.3
    if in_array:
        text.add("[\n")
    for number, page in enumerate(pages()):
        if in_array and number > 0:
            text.add(",\n")
        head, tail = response("\x00", f'"total_results":{rows},"request_id":"x"').split("\x00")
        text.add(head + "\n")
        for position, index in enumerate(page):
            starts.append(text.line)
            text.add(objects[index] + (",\n" if position < len(page) - 1 else "\n"))
        text.add(tail + ("" if in_array else "\n"))
    if in_array:
        text.add("\n]\n")
    write("json", text.pieces, starts)

    def xml_text(value):
        text = "true" if value is True else "false" if value is False else str(value)
        if text and "]]>" not in text and rnd.random() < 0.2:
            return "<![CDATA[" + text + "]]>"
        return escape(text, {'"': "&quot;"})

    def element(key, value):
        if value is None or value == "":
            return f"<{key}/>" if rnd.random() < 0.5 else f"<{key}></{key}>"
        return f"<{key}>{xml_text(value)}</{key}>"

    # XML: one document, or pages one after another; a record's line is where <refund> starts
    # (line breaks inside text count).
    separator = rnd.choice(["", "\n", "\r\n  "])
    text, starts = Text(), []
    for page in pages():
        text.add('<?xml version="1.0" encoding="utf-8" ?><refunds_receive_get_response><refunds list="true">')
        for index in page:
            text.add(separator)
            starts.append(text.line)
            text.add("<refund>" + "".join(element(k, v) for k, v in sorted(refunds[index].items())) + "</refund>")
        text.add(f"</refunds><total_results>{rows}</total_results></refunds_receive_get_response><!--top011184081134.na62-->\n")
    write("xml", text.pieces, starts)


def compare_rejects(expected_path, rejects_path):
    """Exit 1 unless every expected reject is there (by record ordinal), at its line, with exactly
    its (code, field)s, and there are no others."""
    def entry(line, errors):
        return line, sorted((tuple(e) for e in errors), key=str)
    expected = {r["record"]: entry(r["line"], r["errors"]) for r in json.load(open(expected_path))}
    got = {}
    for text in open(rejects_path, encoding="utf-8"):
        reject = json.loads(text)
        got[reject["record"]] = entry(reject["line"], [(e["code"], e["field"]) for e in reject["errors"]])
    differ = [record for record in sorted(set(expected) | set(got)) if expected.get(record) != got.get(record)]
    for record in differ[:5]:
        print(f"{rejects_path}: record {record}: got (line, errors) {got.get(record)}, expected {expected.get(record)}")
    print(f"{rejects_path}: {len(got)} rejects, {len(differ)} differ")
    return 1 if differ else 0


def check_requests(records_path, requests_path):
    """Exit 1 unless every dry-run request follows wdt-protocol.md, re-derived here from the
    credentials in the environment (WDT_SID, WDT_APPKEY, WDT_APPSECRET; TOP_APPKEY, TOP_SECRET,
    TOP_SESSION), and the requests carry exactly the valid records, none lost or sent twice."""
    import os
    records = [json.loads(line) for line in open(records_path, encoding="utf-8")]
    requests = [json.loads(line) for line in open(requests_path, encoding="utf-8")]
    families = {"aftersales.refund.RawRefund.upload": qjb_request, "sales_refund_push.php": enterprise_request,
                "alibaba.wdk.trade.refund.create": top_request, "wms.stockin.SmartRefund.upload": stockin_request}
    # What each reshaping target sends of a record (qjb's RawRefund.upload sends it whole).
    record_keys = {"sales_refund_push.php": lambda r: (r["refund_no"], r["oid"]),
                   "alibaba.wdk.trade.refund.create": lambda r: (r["refund_no"], r["oid"]),
                   "wms.stockin.SmartRefund.upload": lambda r: (r["tid"], r["spec_no"], Decimal(r["num"]))}
    problems, sent = [], []
    for call, request in enumerate(requests, 1):
        check = families.get(request["api"])
        if check is None:
            problems.append(f"call {call}: no check for api {request['api']}")
            continue
        lines, found = check(request, os.environ)
        problems += [f"call {call}: {problem}" for problem in found]
        if request.get("record_count") != len(lines):
            problems.append(f"call {call}: {len(lines)} lines, record_count {request.get('record_count')}")
        sent += lines
    if requests and requests[0]["api"] == "aftersales.refund.RawRefund.upload":
        # qjb carries whole records: the lines, in order, are records.jsonl's.
        if len(sent) != len(records):
            problems.append(f"{len(sent)} lines sent, {len(records)} records")
        for index, (line, record) in enumerate(zip(sent, records)):
            if canonical(line) != canonical(record):
                problems.append(f"line {index + 1} sent differs from record {index + 1}: {canonical(line)} != {canonical(record)}")
    elif requests:
        # The other targets reshape records: what each sends of a record is sent exactly once.
        keys = sorted(map(record_keys[requests[0]["api"]], records))
        if sorted(sent) != keys:
            problems.append(f"what was sent is not the records' ({len(sent)} lines sent, {len(keys)} records)")
    for problem in problems[:5]:
        print(f"{requests_path}: {problem}")
    print(f"{requests_path}: {len(requests)} calls, {len(sent)} lines, {len(problems)} problems")
    return 1 if problems else 0


MONEY_AND_NUM = {"num", "refund_amount", "actual_refund_amount", "price", "total_amount"}


def canonical(record):
    """A record or body line for comparison: money and num (strings in records.jsonl, numbers in
    a body) as decimals, integers as int, empty text left out."""
    out = {}
    for key, value in record.items():
        if value == "":
            continue
        if key in MONEY_AND_NUM:
            value = Decimal(str(value))
        elif isinstance(value, Decimal):
            value = int(value)
        out[key] = value
    return out


def qjb_problems(request, env):
    """(a) qjb: md5(secret + k1 + v1 + ... + secret) over the byte-sorted query and `body`; the URL
    is PHP's http_build_query of that query with `sign` last; the body is json_encode-like ASCII
    (`\\uXXXX`, `\\/`)."""
    import hashlib
    from urllib.parse import quote_plus
    secret, salt = env["WDT_APPSECRET"].split(":", 1)
    query, body, problems = dict(request["query"]), request["body"], []
    sign = query.pop("sign")
    if (query["sid"], query["key"], query["salt"], query["v"], query["method"]) != (env["WDT_SID"], env["WDT_APPKEY"], salt, "1.0", request["api"]):
        problems.append(f"query {query}")
    plain = secret + "".join(k + v for k, v in sorted(dict(query, body=body).items())) + secret
    if hashlib.md5(plain.encode("utf-8")).hexdigest() != sign:
        problems.append(f"sign {sign} is not md5 of the protocol's string")
    url = "http://wdt.wangdian.cn/openapi?" + "&".join(f"{k}={quote_plus(v)}" for k, v in sorted(query.items())) + "&sign=" + sign
    if request["url"] != url:
        problems.append(f"url {request['url']} is not {url}")
    if not body.isascii() or "/" in body.replace("\\/", ""):
        problems.append("the body is not json_encode-like (raw non-ASCII or an unescaped /)")
    return problems


def qjb_request(request, env):
    """RawRefund.upload: `["shop_no",[lines]]`, at most 50 lines (the pipelines' batchSize)."""
    problems = qjb_problems(request, env)
    shop, lines = json.loads(request["body"], parse_float=Decimal, parse_int=Decimal)
    if not 0 < len(lines) <= 50:
        problems.append(f"{len(lines)} lines in one call")
    return [dict(line, shop_no=shop) for line in lines], problems


def stockin_request(request, env):
    """SmartRefund.upload: `[refundInfo, detailMapList, createPreStockin]`, one tid a call,
    stockin_num = num."""
    problems = qjb_problems(request, env)
    info, details, _ = json.loads(request["body"], parse_float=Decimal, parse_int=Decimal)
    return [(info["tid"], line["spec_no"], Decimal(line["stockin_num"])) for line in details], problems


def form_problems(request):
    """A form-encoded POST: the body decodes to the form, and there is no query string."""
    from urllib.parse import parse_qsl
    problems = []
    if dict(parse_qsl(request["body"], keep_blank_values=True)) != request["form"]:
        problems.append("the body does not decode to the form")
    return problems


def enterprise_request(request, env):
    """(b) openapi2: md5(join(";", "%02d-key:%04d-value") + appsecret) over the byte-sorted form,
    lengths in characters, the whole appsecret; at most 10 refunds per call."""
    import hashlib
    form = dict(request["form"])
    problems = form_problems(request)
    sign = form.pop("sign")
    if (form["sid"], form["appkey"]) != (env["WDT_SID"], env["WDT_APPKEY"]):
        problems.append(f"form sid/appkey {form['sid']}/{form['appkey']}")
    packed = ";".join("%02d-%s:%04d-%s" % (len(k), k, len(v), v) for k, v in sorted(form.items()))
    if hashlib.md5((packed + env["WDT_APPSECRET"]).encode("utf-8")).hexdigest() != sign:
        problems.append(f"sign {sign} is not md5 of the packed form and appsecret")
    refunds = json.loads(form["api_refund_list"])
    if not 0 < len(refunds) <= 10:
        problems.append(f"{len(refunds)} refunds in one call")
    return [(refund["refund_no"], line["oid"]) for refund in refunds for line in refund["order_list"]], problems


def top_request(request, env):
    """(c) TOP: HMAC-SHA256 (the default sign_method) keyed with the secret over k1v1k2v2... of
    the sorted system and application parameters without empty ones, uppercase hex; the session
    shown as <redacted>; one refund per call."""
    import hashlib
    import hmac
    from urllib.parse import parse_qsl, urlsplit
    query = dict(request["query"])
    problems = form_problems(request)
    if dict(parse_qsl(urlsplit(request["url"]).query, keep_blank_values=True)) != query:
        problems.append("the URL's query is not the request's query")
    sign = query.pop("sign")
    if query.get("session") != "<redacted>":
        problems.append("the session is shown")
    params = dict(query, session=env["TOP_SESSION"], **request["form"])
    if (params["app_key"], params["sign_method"], params["v"]) != (env["TOP_APPKEY"], "hmac-sha256", "2.0"):
        problems.append(f"query {query}")
    plain = "".join(k + v for k, v in sorted(params.items()) if k.strip() and v.strip())
    if hmac.new(env["TOP_SECRET"].encode(), plain.encode("utf-8"), hashlib.sha256).hexdigest().upper() != sign:
        problems.append(f"sign {sign} is not HMAC-SHA256 of the protocol's string")
    refund = json.loads(request["form"]["refund_goods_create_request"])
    return [(line["refund_id"], line["sub_biz_order_id"]) for line in refund["refund_goods_sub_orders"]], problems


def check_report(expected_path, rejects_path, report_path):
    """Exit 1 unless report.json accounts for the run as the oracle does: read, valid and
    rejected; records rejected per code; and refund_amount / actual_refund_amount per status."""
    expected = json.load(open(expected_path))
    rejects = json.load(open(rejects_path))
    counts = json.load(open(report_path))["counts"]
    problems = []
    def check(what, got, want):
        if got != want:
            problems.append(f"{what}: report {got}, oracle {want}")
    check("read", counts["read"], len(expected) + len(rejects))
    check("valid", counts["valid"], len(expected))
    check("rejected", counts["rejected"], len(rejects))
    by_code = {}
    for reject in rejects:
        for code in {error[0] for error in reject["errors"]}:
            by_code[code] = by_code.get(code, 0) + 1
    check("rejected_by_code", counts["rejected_by_code"], by_code)
    by_status = {}
    for record in expected:
        total = by_status.setdefault(str(record["status"]), {"count": 0, "refund_amount": Decimal(0), "actual_refund_amount": Decimal(0)})
        total["count"] += 1
        total["refund_amount"] += Decimal(record["refund_amount"])
        total["actual_refund_amount"] += Decimal(record["actual_refund_amount"])
    reported = {status: {"count": t["count"], "refund_amount": Decimal(t["refund_amount"]), "actual_refund_amount": Decimal(t["actual_refund_amount"])}
                for status, t in counts["valid_by_status"].items()}
    check("valid_by_status", reported, by_status)
    for problem in problems:
        print(f"{report_path}: {problem}")
    print(f"{report_path}: {len(problems)} problems")
    return 1 if problems else 0


def check_refeed(expected_path, refeed_path):
    """The re-feed file holds the expected bytes exactly; with no rows to re-feed there is none."""
    want = open(expected_path, "rb").read()
    have = open(refeed_path, "rb").read() if os.path.exists(refeed_path) else None
    if (have or b"") != want or (have is not None and not want):
        print(f"{refeed_path}: {'missing' if have is None else f'{len(have)} bytes'}, expected {len(want)} bytes"
              + ("" if have is None else f"; first difference at byte {next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))}"))
        return 1
    print(f"{refeed_path}: {len(want)} bytes as expected" if want else f"{refeed_path}: none, as expected (nothing to re-feed)")
    return 0


def compare(expected_path, records_path):
    """Exit 1 when a record differs; an optional field may be absent or empty."""
    expected = json.load(open(expected_path))
    got = [json.loads(line) for line in open(records_path, encoding="utf-8")]
    def key(record):
        return {k: v for k, v in record.items() if v != "" or k in ("logistics_name", "logistics_no")}
    differ = 0
    if len(got) != len(expected):
        print(f"{records_path}: {len(got)} records, expected {len(expected)}")
        differ += 1
    for want, have in zip(expected, got):
        if key(want) != key(have):
            differ += 1
            if differ <= 5:
                for field in sorted(set(key(want)) | set(key(have))):
                    if key(want).get(field) != key(have).get(field):
                        print(f"{records_path}: refund {want['refund_no']} {field}: got {key(have).get(field)!r}, expected {key(want).get(field)!r}")
    print(f"{records_path}: {len(got)} records, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "csv":
        csv_export(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif command == "xlsx":
        csv_export(int(sys.argv[2]), int(sys.argv[3]), "utf-8", sys.argv[4], workbook=True)
    elif command == "top":
        top_exports(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif command == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    elif command == "compare-rejects":
        sys.exit(compare_rejects(sys.argv[2], sys.argv[3]))
    elif command == "check-report":
        sys.exit(check_report(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif command == "check-refeed":
        sys.exit(check_refeed(sys.argv[2], sys.argv[3]))
    elif command == "check-requests":
        sys.exit(check_requests(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(f"unknown command {command}")
