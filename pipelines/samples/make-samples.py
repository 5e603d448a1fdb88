#!/usr/bin/env python3
"""Writes the hand-made Taobao seller-center refund exports in this folder.

taobao-refunds-gbk.csv       GBK, CRLF rows, Excel ="..." ids, quoted newlines, bad rows
taobao-refunds-utf8-bom.csv  UTF-8 with a BOM, LF rows, the same kinds of quirks

Every bad row is there on purpose; the comment beside it says why it must be rejected.
Run it again after editing: python3 pipelines/samples/make-samples.py
"""
import os

HEADER = ("订单编号,退款编号,支付宝交易号,订单付款时间,商品编码,退款完结时间,买家会员名称,买家实际支付金额,宝贝标题,"
          "买家退款金额,手工退款/系统退款,是否需要退货,退款的申请时间,超时时间,退款状态,货物状态,退货物流信息,发货物流信息,"
          "客服介入状态,卖家真实姓名,卖家真实姓名新,卖家退货地址,卖家邮编,卖家电话,卖家手机,退货物流单号,退货物流公司,"
          "买家退款原因,买家退款说明,买家退货时间,责任方,售中或售后,商家备注,完结时间,部分退款/全部退款,审核操作人,举证超时,"
          "是否零秒响应,退款操作人,退款原因标签,业务类型,是否帮他退款,子订单编号,退款数量,商品单价").split(",")


def row(**values):
    """A data row: the named columns filled, every other column empty."""
    cells = [""] * len(HEADER)
    for name, value in values.items():
        cells[HEADER.index(name)] = value
    return cells


class Quoted(str):
    """A cell written in full CSV quoting even when an exporter would not quote it."""


def quote(cell):
    # Real exports write Excel's ="123" guard unquoted; the CSV-quoted form is "=""123""".
    if not isinstance(cell, Quoted) and cell.startswith('="') and cell.endswith('"') and "," not in cell:
        return cell
    if isinstance(cell, Quoted) or any(c in cell for c in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def base(tid, refund, oid, status="退款成功", amount="59.00", **extra):
    values = {
        "订单编号": f'="{tid}"', "退款编号": f'="{refund}"', "子订单编号": f'="{oid}"',
        "支付宝交易号": "2024090322001100001", "订单付款时间": "2024-09-01 10:00:00", "商品编码": "TS-WHITE-XL",
        "买家会员名称": "t**1", "买家实际支付金额": "59.00", "宝贝标题": "纯棉T恤 白色/XL", "买家退款金额": amount,
        "手工退款/系统退款": "系统退款", "是否需要退货": "否", "退款的申请时间": "2024-09-03 10:00:00",
        "退款状态": status, "货物状态": "已收到货", "发货物流信息": "中通快递,78812345678",
        "买家退款原因": "不想要了", "售中或售后": "售后", "退款数量": "1", "商品单价": "59.00",
    }
    if status == "退款成功":
        values["退款完结时间"] = "2024-09-05 18:30:00"
    values.update(extra)
    return row(**values)


def rows(rich_money):
    """Good rows first, then bad ones. rich_money: use ¥ (not encodable in GBK) or ￥."""
    yen = "¥" if rich_money else "￥"
    good = [
        # 1 plain refund-only, not shipped
        base("4012345678901234567", "201234567890123", "4012345678901234568", status="退款成功", 货物状态="未发货"),
        # 2 goods returned: return waybill from 退货物流单号/公司, never 发货物流信息; quoted newline in 说明
        base("4012345678901234569", "201234567890124", "4012345678901234570", status="买家已经退货，等待卖家确认收货",
             amount=f"{yen}1,234.50", 是否需要退货="是", 退货物流单号="YT8800001", 退货物流公司="圆通速递",
             买家退款说明="尺码偏小\r\n换不了就退, 谢谢", 商品单价="1234.5"),
        # 3 two lines of one refund: same 退款编号, different 子订单编号 (not duplicates)
        base("4012345678901234571", "201234567890125", "4012345678901234572", status="等待卖家同意",
             退款的申请时间="2024/9/3 9:05", 售中或售后="售中", 货物状态="未发货"),
        base("4012345678901234571", "201234567890125", "4012345678901234573", status="等待卖家同意",
             退款的申请时间="2024-09-03 09:05", 售中或售后="售中", 退款数量="2", amount="118", 商品单价="59"),
        # 5 seller refused: stays status 2 by default; id with a trailing tab and a '-quoted id
        base("4012345678901234574", "201234567890126", "4012345678901234575", status="卖家拒绝退款",
             amount="0.5", 宝贝标题='儿童保温杯 "升级款", 500ml',
             订单编号="4012345678901234574\t", 退款编号="'201234567890126"),
        # 6 closed refund: actual amount is 0; CSV-quoted ="" form of an id
        base("4012345678901234576", "201234567890127", "4012345678901234577", status="退款关闭", amount="  20.00 ",
             订单编号=Quoted('="4012345678901234576"')),
        # 7 waiting for the buyer to return goods, exact 4 decimals kept
        base("4012345678901234578", "201234567890128", "4012345678901234579", status="卖家已经同意退款，等待买家退货",
             amount="12.3456", 是否需要退货="是", 退款数量="1.5"),
    ]
    bad = [
        # money with a decimal comma: invalid_number
        base("4012345678901234580", "201234567890129", "4012345678901234581", amount="12,50"),
        # Excel turned the sub-order id into a number: invalid_id
        base("4012345678901234582", "201234567890130", "3.50000E+18"),
        # five decimals: too_many_decimals (never rounded)
        base("4012345678901234584", "201234567890131", "4012345678901234585", amount="19.99999"),
        # a status label nobody mapped: unknown_value
        base("4012345678901234586", "201234567890132", "4012345678901234587", status="退款处理中"),
        # no such date: invalid_date
        base("4012345678901234588", "201234567890133", "4012345678901234589", 退款的申请时间="2024-02-30 10:00:00"),
        # the same refund line again: duplicate (the first stays valid)
        base("4012345678901234567", "201234567890123", "4012345678901234568", status="退款成功"),
        # several reasons at once: missing buyer nick, missing tid, bad amount, bad date
        base("", "201234567890134", "4012345678901234591", amount="abc", 买家会员名称="", 退款的申请时间="昨天"),
        # a 300-character title: too_long
        base("4012345678901234592", "201234567890135", "4012345678901234593", 宝贝标题="超长标题" * 75),
    ]
    return good, bad


def write(path, encoding, newline, bom, rich_money, extra_lines=()):
    good, bad = rows(rich_money)
    lines = [",".join(HEADER)]
    for cells in good + bad:
        lines.append(",".join(quote(c) for c in cells))
    text = newline.join(lines) + newline
    data = text.encode(encoding)
    for raw in extra_lines:
        data += raw + newline.encode()
    if bom:
        data = b"\xef\xbb\xbf" + data
    with open(path, "wb") as f:
        f.write(data)


here = os.path.dirname(os.path.abspath(__file__))
# GBK: CRLF rows, plus a ragged row (too few fields) and a row with a byte GBK cannot hold.
ragged = ",".join(['="4012345678901234594"', '="201234567890136"', "2024"]).encode("gbk")
broken = ",".join(quote(c) for c in base("4012345678901234596", "201234567890137", "4012345678901234597",
                                         宝贝标题="坏字节")).encode("gbk").replace("坏字节".encode("gbk"), b"\xff\xfe\xff")
write(os.path.join(here, "taobao-refunds-gbk.csv"), "gbk", "\r\n", False, False, [ragged, broken])
write(os.path.join(here, "taobao-refunds-utf8-bom.csv"), "utf-8", "\n", True, True, [ragged])


# ---------------------------------------------------------------------------------------------
# One set of TOP refunds (taobao.refunds.receive.get merged with taobao.refund.get detail fields,
# as an exporter writes them), in four shapes that must give byte-identical records.jsonl:
#   top-refunds.xml   TOP XML: alphabetical fields, &quot; entities, CDATA, CRLF, <!--top…--> comment
#   top-refunds.json  TOP JSON: ids and some money as JSON numbers, booleans, nested extras
#   top-refunds.jsonl one refund object per line
#   taobao-refunds-equivalent.csv   the same refunds as a seller-center export
#   taobao-refunds-equivalent.xlsx  and as the seller center's modern .xlsx export
import json
from xml.sax.saxutils import escape

TOP = [
    dict(refund_id=146535512261065, tid=3050123456789012345, oid=3050123456789012346, status="SUCCESS",
         dispute_type="REFUND", has_good_return=False, good_status="BUYER_NOT_RECEIVED",
         order_status="WAIT_SELLER_SEND_GOODS", refund_phase="onsale", refund_fee="252.77", num=1, price="252.77",
         title="纯棉T恤 白色/XL", buyer_nick="t**1", reason="不想要了", desc="拍错了，不要了",
         created="2024-09-01 10:00:00", end_time="2024-09-02 11:30:00", company_name="", sid="",
         outer_id="TS-WHITE-XL", num_iid=600123456789, alipay_no="2024090122001100001"),
    dict(refund_id=146535512261066, tid=3050123456789012347, oid=3050123456789012348,
         status="WAIT_SELLER_CONFIRM_GOODS", dispute_type="REFUND_AND_RETURN", has_good_return=True,
         good_status="BUYER_RETURNED_GOODS", order_status="TRADE_FINISHED", refund_phase="aftersale",
         refund_fee=19.9, num=2, price="9.95", title='儿童保温杯 "升级款" & <礼盒>', buyer_nick="t**2",
         reason="质量问题", desc="杯盖漏水\r\n第二次了", created="2024-09-03 08:15:00", end_time="",
         company_name="圆通速递", sid="YT8800001", outer_id="CUP-500", num_iid=600123456790,
         alipay_no="2024090322001100002"),
    dict(refund_id=146535512261067, tid=3050123456789012349, oid=3050123456789012350,
         status="WAIT_SELLER_AGREE", dispute_type="TMALL_EXCHANGE", has_good_return=True,
         good_status="BUYER_RECEIVED", order_status="TRADE_BUYER_SIGNED", refund_phase="aftersale",
         refund_fee="0.00", num=1, price="199.00", title="运动跑鞋 42码", buyer_nick="t**3", reason="尺码拍错",
         desc="", created="2024-09-04 21:05:00", end_time="", company_name="", sid="", outer_id="SHOE-42",
         num_iid=600123456791, alipay_no="2024090422001100003"),
    dict(refund_id=146535512261068, tid=3050123456789012351, oid=3050123456789012352,
         status="SELLER_REFUSE_BUYER", dispute_type="REFUND", has_good_return=False,
         good_status="BUYER_RECEIVED", order_status="TRADE_FINISHED", refund_phase="aftersale",
         refund_fee="1234.50", num=1, price="1234.50", title="家用空气炸锅 4.5L", buyer_nick="t**4",
         reason="七天无理由", desc="包装完好", created="2024-09-05 12:00:00", end_time="", company_name="",
         sid="", outer_id="FRYER-45", num_iid=600123456792, alipay_no="2024090522001100004"),
    dict(refund_id=146535512261069, tid=3050123456789012353, oid=3050123456789012354, status="CLOSED",
         dispute_type="REFUND", has_good_return=False, good_status="BUYER_NOT_RECEIVED",
         order_status="WAIT_BUYER_CONFIRM_GOODS", refund_phase="onsale", refund_fee=88, num=1, price="88.00",
         title="有机绿茶 250g", buyer_nick="t**5", reason="不想要了", desc="", created="2024-09-06 09:09:09",
         end_time="", company_name="", sid="", outer_id="TEA-250", num_iid=600123456793,
         alipay_no="2024090622001100005"),
    dict(refund_id=146535512261070, tid=3050123456789012355, oid=3050123456789012356,
         status="WAIT_BUYER_RETURN_GOODS", dispute_type="REFUND_AND_RETURN", has_good_return=True,
         good_status="BUYER_RECEIVED", order_status="TRADE_FINISHED", refund_phase="aftersale",
         refund_fee="59.9", num=1, price="59.90", title="真丝围巾 100% 桑蚕丝", buyer_nick="t**6",
         reason="颜色不符", desc="和图片差别大", created="2024-09-07 18:30:00", end_time="", company_name="",
         sid="", outer_id="SCARF-1", num_iid=600123456794, alipay_no="2024090722001100006"),
]

STATUS_LABEL = {
    "SUCCESS": "退款成功", "CLOSED": "退款关闭", "WAIT_SELLER_AGREE": "买家已经申请退款，等待卖家同意",
    "WAIT_BUYER_RETURN_GOODS": "卖家已经同意退款，等待买家退货", "WAIT_SELLER_CONFIRM_GOODS": "买家已经退货，等待卖家确认收货",
    "SELLER_REFUSE_BUYER": "卖家拒绝退款",
}


def write_top_xml(path):
    parts = ['<?xml version="1.0" encoding="utf-8" ?>', '<refunds_receive_get_response><refunds list="true">']
    for refund in TOP:
        parts.append("<refund>")
        for key in sorted(refund):
            value = refund[key]
            if isinstance(value, bool):
                value = "true" if value else "false"
            value = str(value)
            if value == "":
                parts.append(f"<{key}/>")  # empty or self-closing: missing
            elif key == "desc" and "\r\n" in value:
                parts.append(f"<{key}><![CDATA[{value}]]></{key}>")
            else:
                escaped = escape(value, {'"': "&quot;"})
                parts.append(f"<{key}>{escaped}</{key}>")
        parts.append("</refund>\r\n")  # CRLF between records
    parts.append(f"</refunds><total_results>{len(TOP)}</total_results></refunds_receive_get_response><!--top011184081134.na62-->")
    with open(path, "wb") as f:
        f.write("".join(parts).encode("utf-8"))


def write_top_json(path):
    doc = {"refunds_receive_get_response": {
        "refunds": {"refund": [dict(r, refund_remind_timeout={"timeout": "2024-09-20 00:00:00", "exist_timeout": True})
                               for r in TOP]},
        "total_results": len(TOP), "request_id": "10abcdefgh"}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)


def write_top_jsonl(path):
    with open(path, "w", encoding="utf-8") as f:
        for refund in TOP:
            f.write(json.dumps(refund, ensure_ascii=True) + "\n")


EQUIVALENT_HEADER = HEADER + ["商品id", "售后类型"]


def equivalent_rows():
    """The TOP refunds as seller-center rows: {column: text}, ids without Excel's guard."""
    for r in TOP:
        if r["good_status"] == "BUYER_NOT_RECEIVED" and r["order_status"] == "WAIT_SELLER_SEND_GOODS":
            goods = "未发货"
        elif r["good_status"] == "BUYER_NOT_RECEIVED":
            goods = "未收到货"
        else:
            goods = "已收到货"
        yield {
            "退款编号": str(r["refund_id"]), "订单编号": str(r["tid"]), "子订单编号": str(r["oid"]),
            "退款数量": str(r["num"]), "商品单价": r["price"], "宝贝标题": r["title"], "买家会员名称": r["buyer_nick"],
            "买家退款金额": str(r["refund_fee"]), "退款的申请时间": r["created"], "退款完结时间": r["end_time"],
            "退款状态": STATUS_LABEL[r["status"]], "货物状态": goods, "是否需要退货": "是" if r["has_good_return"] else "否",
            "售中或售后": "售后" if r["refund_phase"] == "aftersale" else "售中",
            "退货物流公司": r["company_name"], "退货物流单号": r["sid"], "买家退款原因": r["reason"],
            "买家退款说明": r["desc"], "商品编码": r["outer_id"], "支付宝交易号": r["alipay_no"],
            "商品id": str(r["num_iid"]),
            "售后类型": {"REFUND": "仅退款", "REFUND_AND_RETURN": "退货退款"}.get(r["dispute_type"], "换货"),
        }


IDS = ("退款编号", "订单编号", "子订单编号")


def write_equivalent_csv(path):
    lines = [",".join(EQUIVALENT_HEADER)]
    for values in equivalent_rows():
        cells = [""] * len(EQUIVALENT_HEADER)
        for name, value in values.items():
            cells[EQUIVALENT_HEADER.index(name)] = f'="{value}"' if name in IDS else value
        lines.append(",".join(quote(c) for c in cells))
    with open(path, "wb") as f:
        f.write(("\r\n".join(lines) + "\r\n").encode("gbk"))


def write_equivalent_xlsx(path):
    """The same refunds as the seller center's modern export: an .xlsx workbook, sheet 'export'.

    Written the way spreadsheet writers do: text in the shared-string table (ids too, as text),
    money and quantities as number cells (19.9 as the 17-digit 19.899999999999999 some writers
    store), the application time as a date cell (a serial number in a date style), a CRLF in a
    cell as Excel's _x000D_ escape, one title cell as an inline string, a second sheet of notes,
    and empty cells left out."""
    import datetime
    import zipfile
    from xml.sax.saxutils import escape, quoteattr

    strings, index = [], {}

    def shared(text):
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return index[text]

    def column(n):
        name = ""
        n += 1
        while n:
            n, rest = divmod(n - 1, 26)
            name = chr(65 + rest) + name
        return name

    numbers = {"退款数量", "商品单价", "买家退款金额", "商品id"}
    epoch = datetime.datetime(1899, 12, 30)
    rows_xml = []
    all_rows = [{name: name for name in EQUIVALENT_HEADER}] + list(equivalent_rows())
    for number, values in enumerate(all_rows, start=1):
        cells = []
        for col, name in enumerate(EQUIVALENT_HEADER):
            value = values.get(name, "")
            if value == "":
                continue  # empty cells are left out
            ref = f"{column(col)}{number}"
            if number > 1 and name in numbers:
                stored = "19.899999999999999" if value == "19.9" else value
                cells.append(f'<c r="{ref}"><v>{stored}</v></c>')
            elif number > 1 and name == "退款的申请时间":
                moment = datetime.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
                cells.append(f'<c r="{ref}" s="1"><v>{repr((moment - epoch).total_seconds() / 86400)}</v></c>')
            elif number > 1 and name == "宝贝标题":
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>')
            else:
                cells.append(f'<c r="{ref}" t="s"><v>{shared(value)}</v></c>')
        rows_xml.append(f'<row r="{number}">{"".join(cells)}</row>')

    def xstring(text):
        return escape(text.replace("\r", "_x000D_"))

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '</Types>',
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{main}" xmlns:r="{rel}">'
        '<sheets><sheet name="export" sheetId="1" r:id="rId1"/><sheet name="说明" sheetId="2" r:id="rId2"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/worksheet" Target="worksheets/sheet2.xml"/>'
        f'<Relationship Id="rId3" Type="{rel}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId4" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/styles.xml": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="{main}">'
        '<numFmts count="1"><numFmt numFmtId="176" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/></numFmts>'
        '<cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" xfId="0"/><xf numFmtId="176" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{main}" xmlns:r="{rel}">'
        f'<sheetData>{"".join(rows_xml)}</sheetData></worksheet>',
        "xl/worksheets/sheet2.xml": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{main}">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>导出说明：金额单位为元</t></is></c></row></sheetData></worksheet>',
    }
    parts["xl/sharedStrings.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="{main}" count="{len(strings)}" uniqueCount="{len(strings)}">'
        + "".join(f'<si><t xml:space="preserve">{xstring(text)}</t></si>' for text in strings) + "</sst>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                     "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/styles.xml", "xl/sharedStrings.xml"]:
            info = zipfile.ZipInfo(name, date_time=(2024, 9, 6, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, parts[name].encode("utf-8"))


write_top_xml(os.path.join(here, "top-refunds.xml"))
write_top_json(os.path.join(here, "top-refunds.json"))
write_top_jsonl(os.path.join(here, "top-refunds.jsonl"))
write_equivalent_csv(os.path.join(here, "taobao-refunds-equivalent.csv"))
write_equivalent_xlsx(os.path.join(here, "taobao-refunds-equivalent.xlsx"))
