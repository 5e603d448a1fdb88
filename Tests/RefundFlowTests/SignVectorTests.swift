import Foundation
import Testing

@testable import RefundFlow

/// Every qjb vector of `wdt-sign-vectors.json` (checked against the vendor's own SDK code).
struct SignVectorTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        var name: String
        var appSecret: String
        var secret: String
        var parameters: [String: String]
        var signString: String
        var expectedSign: String
        var url: String
        var body: String
        var testDescription: String { name }
    }

    static func qjbVectors() throws -> [Vector] {
        let root = try Fixtures.json("wdt-sign-vectors.json") as! [String: Any]
        return (root["qjb"] as! [[String: Any]]).map { vector in
            let request = vector["request"] as! [String: Any]
            return Vector(
                name: vector["name"] as! String, appSecret: vector["appsecret"] as! String,
                secret: vector["secret"] as! String, parameters: vector["params"] as! [String: String],
                signString: vector["sign_string"] as! String, expectedSign: vector["expected_sign"] as! String,
                url: request["url"] as! String, body: request["body"] as! String)
        }
    }

    @Test func allSixQJBVectorsAreHere() throws {
        #expect(try Self.qjbVectors().count == 6)
    }

    @Test(arguments: try qjbVectors())
    func signStringAndSign(_ vector: Vector) {
        let parameters = vector.parameters.map { ($0.key, $0.value) }
        #expect(QJBSigner.signString(parameters, secret: vector.secret) == vector.signString)
        #expect(QJBSigner.sign(parameters, secret: vector.secret) == vector.expectedSign)
    }

    /// The signer a push uses, pinned to the vector's time.
    static func signer(sid: String, appKey: String, appSecret: String, unixTime: Int) -> RequestSigner {
        RequestSigner(
            credentials: Credentials(wdt: WDTCredentials(sid: sid, appKey: appKey, appSecret: appSecret), source: "test"),
            endpoint: nil, unixTime: { unixTime })
    }

    /// The request a push sends — URL, query order, body and sign — equals the vendor SDK's.
    @Test(arguments: try qjbVectors())
    func requestURLAndBody(_ vector: Vector) throws {
        let parameters = vector.parameters
        #expect(QJBCredentials(sid: parameters["sid"]!, appKey: parameters["key"]!, appSecret: vector.appSecret).salt == parameters["salt"])
        var pager: QJBSigner.Pager?
        if let size = parameters["page_size"] {
            pager = QJBSigner.Pager(pageSize: Int(size)!, pageNo: Int(parameters["page_no"]!)!, calcTotal: parameters["calc_total"] == "1")
        }
        let signer = Self.signer(
            sid: parameters["sid"]!, appKey: parameters["key"]!, appSecret: vector.appSecret,
            unixTime: Int(parameters["timestamp"]!)! + QJBSigner.epochOffset)
        let request = try signer.sign(.qjb(method: parameters["method"]!, body: Array(parameters["body"]!.utf8), pager: pager))
        #expect(request.url == vector.url)
        #expect(String(decoding: request.body, as: UTF8.self) == vector.body)
        #expect(request.query.last?.1 == vector.expectedSign)
        #expect(request.contentType == "application/json")
    }

    /// The dry-run writer builds vector 1's body, byte for byte, from a canonical record.
    @Test func rawRefundBodyMatchesTheVendorSDKBytes() throws {
        let vector = try Self.qjbVectors().first { $0.name == "qjb_rawrefund_upload_php_json_encode" }!
        var record = RefundRecord()
        record[.shopNo] = .text("LCJ")
        record[.refundNo] = .text("TK20240903001")
        record[.num] = .decimal(Decimal4(1))
        record[.tid] = .text("T20240901001")
        record[.oid] = .text("T20240901001-1")
        record[.type] = .integer(2)
        record[.status] = .integer(2)
        record[.refundVersion] = .text("1")
        record[.refundAmount] = .decimal(try Decimal4.parse(Array("19.9".utf8)).get())
        record[.actualRefundAmount] = .decimal(try Decimal4.parse(Array("19.90".utf8)).get())
        record[.title] = .text("纯棉T恤 白色/XL")
        record[.buyerNick] = .text("可用库存")
        record[.refundTime] = .text("2024-09-03 10:00:00")
        record[.isAftersale] = .integer(1)
        record[.reason] = .text("不想要了")
        let body = String(decoding: RawRefundTarget.body(shopNo: "LCJ", records: [record]), as: UTF8.self)
        #expect(body == vector.body)
        let signer = Self.signer(sid: "wdtapi3", appKey: "wdt_test", appSecret: "testsecret:testsalt", unixTime: 400_000_000 + QJBSigner.epochOffset)
        let request = try signer.sign(RawRefundTarget(maxUnitsPerCall: 50).payload(group: "LCJ", units: [[record]]))
        #expect(request.url == vector.url)
        #expect(String(decoding: request.body, as: UTF8.self) == vector.body)
    }

    @Test func credentialsNeverShowTheirSecret() {
        let credentials = QJBCredentials(sid: "s", appKey: "k", appSecret: "TopSecret123:salt")
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in ["\(credentials)", String(describing: credentials), String(reflecting: credentials), dumped] {
            #expect(!text.contains("TopSecret123"), "\(text)")
        }
    }

    @Test func appSecretSplitsAtTheFirstColonOnly() {
        let credentials = QJBCredentials(sid: "s", appKey: "k", appSecret: "a:b:c")
        #expect(credentials.secret == "a")
        #expect(credentials.salt == "b:c")
    }

    @Test func credentialsFromTheEnvironment() throws {
        #expect(try Credentials.from([:], source: "env").wdt == nil)
        #expect(throws: Diagnostic.self) { try Credentials.from(["WDT_SID": "x"], source: "env") }
        let error = #expect(throws: Diagnostic.self) {
            try Credentials.from(["WDT_SID": "x", "WDT_APPKEY": "k", "WDT_APPSECRET": "nocolonsecret"], source: "env")
        }
        #expect(error?.description.contains("nocolonsecret") == false)
    }
}

/// Every openapi2 and TOP vector of `wdt-sign-vectors.json`.
struct OtherFamilySignVectorTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        var name: String
        var secret: String
        var method: String
        var parameters: [(String, String)]
        var parametersBeforeFiltering: [(String, String)]?
        var signString: String
        var expectedSign: String
        var official: String?
        var variants: [String: String]
        var testDescription: String { name }
    }

    /// Keeps the JSON object's key order (the TOP filtering vector lists keys in SDK order).
    static func pairs(_ object: Any?) -> [(String, String)]? {
        guard let object = object as? [String: String] else { return nil }
        return object.map { ($0.key, $0.value) }
    }

    static func vectors(_ family: String) throws -> [Vector] {
        let root = try Fixtures.json("wdt-sign-vectors.json") as! [String: Any]
        return (root[family] as! [[String: Any]]).map { vector in
            Vector(
                name: vector["name"] as! String,
                secret: (vector["secret"] ?? vector["appsecret"]) as! String,
                method: vector["sign_method"] as? String ?? "",
                parameters: pairs(vector["params"])!,
                parametersBeforeFiltering: pairs(vector["params_before_filtering"]),
                signString: vector["sign_string"] as! String,
                expectedSign: vector["expected_sign"] as! String,
                official: vector["official_expected"] as? String,
                variants: vector["variants"] as? [String: String] ?? [:])
        }
    }

    @Test func allVectorsAreHere() throws {
        #expect(try Self.vectors("openapi2").count == 6)
        #expect(try Self.vectors("top").count == 5)
    }

    @Test(arguments: try vectors("openapi2"))
    func openAPI2(_ vector: Vector) {
        #expect(OpenAPI2Signer.pack(vector.parameters) + vector.secret == vector.signString)
        let sign = OpenAPI2Signer.sign(vector.parameters, appSecret: vector.secret)
        #expect(sign == vector.expectedSign)
        if let official = vector.official { #expect(sign == official) }
        if let bytes = vector.variants["utf8_byte_length_NOT_OFFICIAL"] {
            // Counting bytes instead of characters changes the sign exactly when a value is not ASCII.
            let hasNonASCII = vector.parameters.contains { $0.1.utf8.count != $0.1.unicodeScalars.count }
            #expect((sign != bytes) == hasNonASCII)
        }
    }

    @Test(arguments: try vectors("top"))
    func top(_ vector: Vector) throws {
        let method = try #require(TOPSigner.Method(rawValue: vector.method))
        let input = vector.parametersBeforeFiltering ?? vector.parameters
        #expect(TOPSigner.kept(input).map(\.0).sorted() == vector.parameters.map(\.0).sorted())
        #expect(TOPSigner.signString(input, secret: vector.secret, method: method) == vector.signString)
        let sign = TOPSigner.sign(input, secret: vector.secret, method: method)
        #expect(sign == vector.expectedSign)
        if let official = vector.official { #expect(sign == official) }
        for (name, variant) in vector.variants where name.contains("NOT_JAVA") { #expect(sign != variant) }
    }

    static func request(_ family: String, _ name: String) throws -> (params: [String: Any], request: [String: String], secret: String) {
        let root = try Fixtures.json("wdt-sign-vectors.json") as! [String: Any]
        let vector = (root[family] as! [[String: Any]]).first { $0["name"] as? String == name }!
        return (vector["params"] as! [String: Any], vector["request"] as! [String: String], (vector["secret"] ?? vector["appsecret"]) as! String)
    }

    /// The enterprise push's form — field order, encoding and sign — equals WdtClient.php's.
    @Test(arguments: ["openapi2_sales_refund_push_ascii_escaped", "openapi2_sales_refund_push_raw_utf8"])
    func openAPI2Request(_ name: String) throws {
        let (params, expected, secret) = try Self.request("openapi2", name)
        let signer = SignVectorTests.signer(
            sid: params["sid"] as! String, appKey: params["appkey"] as! String, appSecret: secret,
            unixTime: Int(params["timestamp"] as! String)!)
        let request = try signer.sign(.openAPI2(script: "sales_refund_push.php", parameters: [("api_refund_list", params["api_refund_list"] as! String)]))
        #expect(request.url == expected["url"])
        #expect(String(decoding: request.body, as: UTF8.self) == expected["body"])
        #expect(request.contentType == expected["content_type"])
    }

    /// The TOP create call — query order, sign and form body — equals the Java SDK's.
    @Test(arguments: ["top_wdk_trade_refund_create_hmac_sha256", "top_wdk_trade_refund_create_md5"])
    func topRequest(_ name: String) throws {
        let (params, expected, secret) = try Self.request("top", name)
        let values = params as! [String: String]
        var signer = RequestSigner(
            credentials: Credentials(
                top: TOPCredentials(
                    appKey: values["app_key"]!, secret: secret, session: values["session"]!,
                    signMethod: TOPSigner.Method(rawValue: values["sign_method"]!)!),
                source: "test"),
            endpoint: nil, unixTime: { ShanghaiTime.parse(values["timestamp"]!)! })
        signer.topPartnerID = values["partner_id"]
        let request = try signer.sign(.top(method: values["method"]!, parameters: [("refund_goods_create_request", values["refund_goods_create_request"]!)]))
        #expect(request.url == expected["url"])
        #expect(String(decoding: request.body, as: UTF8.self) == expected["body"])
        #expect(request.contentType == expected["content_type"])
        #expect(!request.redactedURL.contains(values["session"]!))
    }

    @Test func javaWhitespaceRules() {
        #expect(TOPSigner.isBlank(""))
        #expect(TOPSigner.isBlank(" \t\n\u{0B}\u{0C}\r\u{1C}\u{3000}"))
        #expect(!TOPSigner.isBlank("\u{00A0}"))
        #expect(!TOPSigner.isBlank(" x "))
    }
}
