/// Generates a realistic Taobao seller-center refund export for benchmarks: the 42-column
/// header with 买家会员名称, the three merchant-added columns, Excel `="…"` ids, quoted cells
/// with commas and newlines, and about 1% bad rows. Deterministic (fixed seed), streamed to disk.
public enum BenchmarkData {
    public static let header = [
        "订单编号", "退款编号", "支付宝交易号", "订单付款时间", "商品编码", "退款完结时间", "买家会员名称", "买家实际支付金额", "宝贝标题",
        "买家退款金额", "手工退款/系统退款", "是否需要退货", "退款的申请时间", "超时时间", "退款状态", "货物状态", "退货物流信息", "发货物流信息",
        "客服介入状态", "卖家真实姓名", "卖家真实姓名新", "卖家退货地址", "卖家邮编", "卖家电话", "卖家手机", "退货物流单号", "退货物流公司",
        "买家退款原因", "买家退款说明", "买家退货时间", "责任方", "售中或售后", "商家备注", "完结时间", "部分退款/全部退款", "审核操作人", "举证超时",
        "是否零秒响应", "退款操作人", "退款原因标签", "业务类型", "是否帮他退款", "子订单编号", "退款数量", "商品单价",
    ]

    static let titles = [
        "纯棉T恤 白色/XL", "加厚羽绒服 男款 黑色", "儿童保温杯 500ml \"升级款\"", "无线蓝牙耳机, 降噪版", "家用空气炸锅 4.5L",
        "真丝围巾 100% 桑蚕丝", "运动跑鞋 42码", "有机绿茶 250g 礼盒装",
    ]
    static let reasons = ["不想要了", "尺码拍错/不喜欢/效果差", "质量问题", "7天无理由退换货", "卖家发错货", "少件/漏发"]
    static let statuses = ["退款成功", "退款关闭", "买家已经申请退款，等待卖家同意", "卖家已经同意退款，等待买家退货", "买家已经退货，等待卖家确认收货", "卖家拒绝退款"]
    static let goodsStates = ["未发货", "未收到货", "已收到货"]
    static let carriers = ["中通快递", "圆通速递", "顺丰速运", "韵达快递", "申通快递"]

    /// The columns the bundled pipeline reads (a merchant-trimmed export).
    public static let narrowColumns: Set<String> = [
        "订单编号", "退款编号", "支付宝交易号", "商品编码", "退款完结时间", "买家会员名称", "宝贝标题", "买家退款金额", "是否需要退货",
        "退款的申请时间", "退款状态", "货物状态", "退货物流单号", "退货物流公司", "买家退款原因", "买家退款说明", "售中或售后", "子订单编号",
        "退款数量", "商品单价",
    ]

    /// Writes `rows` data rows (UTF-8 with a BOM, or GBK when `gbk`), CRLF line ends; with
    /// `narrow`, only the columns the bundled pipeline reads.
    public static func writeTaobaoExport(path: String, rows: Int, gbk: Bool = false, narrow: Bool = false) throws {
        let keep = header.map { !narrow || narrowColumns.contains($0) }
        let output = try BufferedOutput(path: path)
        var random = SplitMix64(seed: 20_241_121)
        var line: [UInt8] = []
        line.reserveCapacity(2048)
        if !gbk { try output.write([0xEF, 0xBB, 0xBF]) }
        let encoder = gbk ? try IconvEncoder(to: "GBK") : nil
        func encode(_ bytes: [UInt8]) throws -> [UInt8] { try encoder?.encode(bytes) ?? bytes }
        try output.write(encode(Array((zip(header, keep).filter(\.1).map(\.0).joined(separator: ",") + "\r\n").utf8)))
        for row in 0..<rows {
            line.removeAll(keepingCapacity: true)
            let fields = taobaoRow(row, random: &random)
            var first = true
            for (index, field) in fields.enumerated() where keep[index] {
                if !first { line.append(UInt8(ascii: ",")) }
                first = false
                CSVField.append(field.utf8, to: &line)
            }
            line.append(0x0D)
            line.append(0x0A)
            try output.write(encode(line))
        }
        try output.flush()
    }

    /// The fields of data row `row`, in `header` order, as the CSV export writes them (ids in
    /// Excel's `="…"` guard).
    static func taobaoRow(_ row: Int, random: inout SplitMix64) -> [String] {
        let tid = 3_000_000_000_000_000_000 as UInt64 + UInt64(row) * 7919
        let refundNo = 200_000_000_000_000 as UInt64 + UInt64(row)
        let oid = tid + 1
        let status = statuses[Int(random.next() % UInt64(statuses.count))]
        let cents = 100 + Int(random.next() % 99_900)
        let quantity = 1 + Int(random.next() % 3)
        let title = titles[Int(random.next() % UInt64(titles.count))]
        let reason = reasons[Int(random.next() % UInt64(reasons.count))]
        let day = 1 + Int(random.next() % 28)
        let minute = Int(random.next() % 60)
        let bad = random.next() % 100 == 0
        let amount = bad ? "12,50" : "\(cents / 100).\(String(format2: cents % 100))"
        let returns = random.next() % 2 == 0
        var fields: [String] = []
        fields.reserveCapacity(header.count)
        fields.append("=\"\(tid)\"")  // 订单编号
        fields.append("=\"\(refundNo)\"")  // 退款编号
        fields.append("2024091122001\(row)")  // 支付宝交易号
        fields.append("2024-09-\(String(format2: day)) 10:\(String(format2: minute)):00")
        fields.append("SKU-\(row % 5000)")  // 商品编码
        fields.append(status == "退款成功" ? "2024-09-\(String(format2: min(day + 2, 28))) 18:00:00" : "")
        fields.append("t**\(row % 97)")  // 买家会员名称
        fields.append(amount)
        fields.append(title)
        fields.append(amount)  // 买家退款金额
        fields.append("系统退款")
        fields.append(returns ? "是" : "否")
        fields.append(bad && row % 3 == 0 ? "2024-13-01 10:00" : "2024/9/\(day) 9:\(String(format2: minute))")
        fields.append("")
        fields.append(status)
        fields.append(goodsStates[Int(random.next() % 3)])
        fields.append("")
        fields.append("中通快递,单号7\(row)")  // 发货物流信息 (outbound; never the return waybill)
        fields.append("")
        fields.append("张三")
        fields.append("")
        fields.append("浙江省杭州市余杭区文一西路969号")
        fields.append("311100")
        fields.append("")
        fields.append("13800000000")
        fields.append(returns ? "YT\(880_000_000 + row)" : "")
        fields.append(returns ? carriers[row % carriers.count] : "")
        fields.append(reason)
        fields.append(row % 10 == 0 ? "第一行说明\r\n第二行, 含逗号" : "")
        fields.append("")
        fields.append("买家")
        fields.append(row % 4 == 0 ? "售中" : "售后")
        fields.append("")
        fields.append("")
        fields.append("全部退款")
        fields.append("")
        fields.append("否")
        fields.append("否")
        fields.append("")
        fields.append("")
        fields.append("普通")
        fields.append("否")
        fields.append(bad && row % 3 == 1 ? "3.50000E+18" : "=\"\(oid)\"")  // 子订单编号
        fields.append(String(quantity))
        fields.append("\(cents / 100).\(String(format2: cents % 100))")
        return fields
    }

}

extension String {
    /// Two digits with a leading zero.
    init(format2 value: Int) {
        self = value < 10 ? "0\(value)" : String(value)
    }
}

/// A small deterministic PRNG (SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension BenchmarkData {
    /// The keyed formats the TOP pipelines read.
    public enum TOPFormat: String, Sendable, CaseIterable {
        case xml, json, jsonl
    }

    static let topStatuses = ["SUCCESS", "CLOSED", "WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS", "SELLER_REFUSE_BUYER"]
    static let disputeTypes = ["REFUND", "REFUND_AND_RETURN", "TMALL_EXCHANGE"]

    /// Writes `rows` TOP refunds (receive.get merged with refund.get detail fields), streamed:
    /// XML as TOP writes it (one line per record, alphabetical fields, a trailing comment),
    /// a TOP JSON document, or JSON Lines. About 1% of the rows are bad.
    public static func writeTOPExport(path: String, rows: Int, format: TOPFormat) throws {
        let output = try BufferedOutput(path: path)
        var random = SplitMix64(seed: 20_241_122)
        switch format {
        case .xml: try output.write(Array("<?xml version=\"1.0\" encoding=\"utf-8\" ?><refunds_receive_get_response><refunds list=\"true\">\n".utf8))
        case .json: try output.write(Array("{\"refunds_receive_get_response\":{\"refunds\":{\"refund\":[\n".utf8))
        case .jsonl: break
        }
        let json = JSONBytes(capacity: 4096)
        for row in 0..<rows {
            json.removeAll()
            let status = topStatuses[Int(random.next() % UInt64(topStatuses.count))]
            let cents = 100 + Int(random.next() % 99_900)
            let bad = random.next() % 100 == 0
            let returns = random.next() % 2 == 0
            let day = 1 + Int(random.next() % 28)
            let fields: [(String, String, Bool)] = [  // name, value, is a JSON number
                ("alipay_no", "2024091122001\(row)", false),
                ("buyer_nick", "t**\(row % 97)", false),
                ("company_name", returns ? carriers[row % carriers.count] : "", false),
                ("created", "2024-09-\(String(format2: day)) 10:\(String(format2: row % 60)):00", false),
                ("desc", row % 10 == 0 ? "第一行说明\n第二行 \"引号\" & <尖括号>" : "", false),
                ("dispute_type", disputeTypes[Int(random.next() % 3)], false),
                ("end_time", status == "SUCCESS" ? "2024-09-\(String(format2: min(day + 2, 28))) 18:00:00" : "", false),
                ("good_status", random.next() % 2 == 0 ? "BUYER_RECEIVED" : "BUYER_NOT_RECEIVED", false),
                ("has_good_return", returns ? "true" : "false", true),
                ("num", String(1 + Int(random.next() % 3)), true),
                ("num_iid", String(600_000_000_000 + row % 5000), true),
                ("oid", bad && row % 2 == 0 ? "3.50000E+18" : String(3_000_000_000_000_000_001 as UInt64 + UInt64(row) * 7919), !bad),
                ("order_status", "TRADE_FINISHED", false),
                ("outer_id", "SKU-\(row % 5000)", false),
                ("price", "\(cents / 100).\(String(format2: cents % 100))", false),
                ("reason", reasons[Int(random.next() % UInt64(reasons.count))], false),
                ("refund_fee", bad && row % 2 == 1 ? "12,50" : "\(cents / 100).\(String(format2: cents % 100))", false),
                ("refund_id", String(200_000_000_000_000 as UInt64 + UInt64(row)), true),
                ("refund_phase", row % 4 == 0 ? "onsale" : "aftersale", false),
                ("sid", returns ? "YT\(880_000_000 + row)" : "", false),
                ("status", status, false),
                ("tid", String(3_000_000_000_000_000_000 as UInt64 + UInt64(row) * 7919), true),
                ("title", titles[Int(random.next() % UInt64(titles.count))], false),
            ]
            switch format {
            case .xml:
                json.raw("<refund>")
                for (name, value, _) in fields {
                    if value.isEmpty {
                        json.raw(Array("<\(name)/>".utf8))
                    } else {
                        json.raw(Array("<\(name)>".utf8))
                        json.raw(Array(markupEscaped(value).utf8))
                        json.raw(Array("</\(name)>".utf8))
                    }
                }
                json.raw("</refund>\n")
            case .json, .jsonl:
                if format == .json && row > 0 { json.raw(",\n") }
                json.raw("{")
                for (index, (name, value, isNumber)) in fields.enumerated() {
                    if isNumber { json.key(name, first: index == 0); json.raw(Array(value.utf8)) } else { json.keyValue(name, value, first: index == 0) }
                }
                json.raw(format == .jsonl ? "}\n" : "}")
            }
            try output.write(json.bytes)
        }
        switch format {
        case .xml: try output.write(Array("</refunds><total_results>\(rows)</total_results></refunds_receive_get_response><!--top011184081134.na62-->".utf8))
        case .json: try output.write(Array("\n]},\"total_results\":\(rows)}}\n".utf8))
        case .jsonl: break
        }
        try output.flush()
    }
}
