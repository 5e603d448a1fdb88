import Crypto

/// Credentials of the WangDianTong 旗舰版 (qjb) API family.
public struct QJBCredentials: Sendable, Hashable {
    public var sid: String
    public var appKey: String
    /// The part of the appsecret before the first `:`. Signs, is never sent or written.
    var secret: String
    /// The part after the first `:`. Sent (and signed) as the `salt` parameter.
    public var salt: String

    /// - Parameter appSecret: `secret:salt`, split at the first colon (the salt may hold more).
    public init(sid: String, appKey: String, appSecret: String) {
        self.sid = sid
        self.appKey = appKey
        if let colon = appSecret.firstIndex(of: ":") {
            secret = String(appSecret[..<colon])
            salt = String(appSecret[appSecret.index(after: colon)...])
        } else {
            secret = appSecret
            salt = ""
        }
    }
}

/// The qjb sign and request builder, byte for byte as `wdtsdk.php` (`WdtErpClient`).
public enum QJBSigner {
    /// WDT timestamps count seconds from 2012-01-01 00:00:00 UTC+8.
    public static let epochOffset = 1_325_347_200

    /// Paging parameters; they go in the query string and are signed.
    public struct Pager: Sendable, Hashable {
        public var pageSize: Int
        public var pageNo: Int
        public var calcTotal: Bool

        public init(pageSize: Int, pageNo: Int, calcTotal: Bool) {
            self.pageSize = pageSize
            self.pageNo = pageNo
            self.calcTotal = calcTotal
        }
    }

    /// `md5(secret + k1 + v1 + … + secret)` over byte-sorted keys (including `body`), lowercase hex.
    public static func sign(_ parameters: [(String, String)], secret: String) -> String {
        var hasher = Insecure.MD5()
        hasher.update(data: Array(signString(parameters, secret: secret).utf8))
        return hexDigest(hasher)
    }

    /// The same sign with the body as bytes, hashed in place (a batch body can be large).
    static func sign(_ parameters: [(String, String)], body: UnsafeBufferPointer<UInt8>, secret: String) -> String {
        var entries: [(String, String?)] = parameters.filter { $0.0 != "sign" && $0.0 != "body" }.map { ($0.0, $0.1) }
        entries.append(("body", nil))  // nil stands for the body bytes
        entries.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        var hasher = Insecure.MD5()
        hasher.update(data: Array(secret.utf8))
        for (key, value) in entries {
            hasher.update(data: Array(key.utf8))
            if let value { hasher.update(data: Array(value.utf8)) } else { hasher.update(bufferPointer: UnsafeRawBufferPointer(body)) }
        }
        hasher.update(data: Array(secret.utf8))
        return hexDigest(hasher)
    }

    private static func hexDigest(_ hasher: Insecure.MD5) -> String { lowercaseHex(hasher.finalize()) }

    /// The plaintext that is hashed. Contains the secret: for tests only, never for output.
    static func signString(_ parameters: [(String, String)], secret: String) -> String {
        let sorted = parameters.filter { $0.0 != "sign" }.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        var text = secret
        for (key, value) in sorted { text += key + value }
        return text + secret
    }

    /// The query parameters of a call, sorted, with `sign` last. The body is signed, not sent here.
    static func signedQuery(
        method: String, body: UnsafeBufferPointer<UInt8>, credentials: QJBCredentials, unixTime: Int, pager: Pager? = nil
    ) -> [(String, String)] {
        var parameters: [(String, String)] = [
            ("sid", credentials.sid), ("key", credentials.appKey), ("salt", credentials.salt), ("method", method),
            ("timestamp", String(unixTime - epochOffset)), ("v", "1.0"),
        ]
        if let pager {
            parameters += [
                ("page_size", String(pager.pageSize)), ("page_no", String(pager.pageNo)),
                ("calc_total", pager.calcTotal ? "1" : "0"),
            ]
        }
        let signature = sign(parameters, body: body, secret: credentials.secret)
        var query = parameters.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        query.append(("sign", signature))
        return query
    }

    /// `{base}/openapi?k=v&…` with PHP `http_build_query` encoding.
    static func url(baseURL: String, query: [(String, String)]) -> String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/openapi?" + query.map { "\(phpURLEncode($0.0))=\(phpURLEncode($0.1))" }.joined(separator: "&")
    }

    /// PHP `urlencode`: `[A-Za-z0-9_.-]` kept, space as `+`, everything else `%XX` (upper case).
    public static func phpURLEncode(_ text: String) -> String {
        var out: [UInt8] = []
        let digits = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                out.append(byte)
            case UInt8(ascii: " "):
                out.append(UInt8(ascii: "+"))
            default:
                out.append(UInt8(ascii: "%"))
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Interpolating, printing or dumping credentials never shows the secret.
extension QJBCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "QJBCredentials(sid: \(sid), appKey: \(appKey), secret: <redacted>, salt: \(salt))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["sid": sid, "appKey": appKey, "secret": "<redacted>", "salt": salt])
    }
}
