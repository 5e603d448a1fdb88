import Crypto

/// The sign of WangDianTong 企业版 (openapi2, `WdtClient.php`):
/// `md5(join(";", sprintf("%02d-%s:%04d-%s", len(k), k, len(v), v)) + appsecret)` over byte-sorted
/// keys, lengths in characters (Unicode code points, as PHP `iconv_strlen` counts), widths are
/// minimums (a 10000-character value writes `10000-`), lowercase hex. The appsecret is used whole.
public enum OpenAPI2Signer {
    /// The packed parameter string (without the appsecret).
    public static func pack(_ parameters: [(String, String)]) -> String {
        parameters.filter { $0.0 != "sign" }
            .sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            .map { key, value in "\(padded(key.unicodeScalars.count, 2))-\(key):\(padded(value.unicodeScalars.count, 4))-\(value)" }
            .joined(separator: ";")
    }

    public static func sign(_ parameters: [(String, String)], appSecret: String) -> String {
        lowercaseHex(Insecure.MD5.hash(data: Array((pack(parameters) + appSecret).utf8)))
    }

    private static func padded(_ number: Int, _ width: Int) -> String {
        let digits = String(number)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// The sign of Taobao TOP (`TaobaoUtils.signTopRequest` of the official Java SDK).
public enum TOPSigner {
    public enum Method: String, Sendable, CaseIterable {
        case md5
        case hmac
        case hmacSHA256 = "hmac-sha256"
    }

    /// Parameters as the Java SDK keeps them: a key or value that is empty or only white space
    /// (Java `Character.isWhitespace`) is dropped from the sign *and* the request.
    public static func kept(_ parameters: [(String, String)]) -> [(String, String)] {
        parameters.filter { !isBlank($0.0) && !isBlank($0.1) }
    }

    /// `k1v1k2v2…` over keys sorted by UTF-16 code unit (Java `Arrays.sort`); for md5 wrapped in
    /// the secret. Contains the secret for md5: for tests only, never for output.
    static func signString(_ parameters: [(String, String)], secret: String, method: Method) -> String {
        let body = kept(parameters).filter { $0.0 != "sign" }
            .sorted { $0.0.utf16.lexicographicallyPrecedes($1.0.utf16) }
            .map { $0.0 + $0.1 }.joined()
        return method == .md5 ? secret + body + secret : body
    }

    /// Uppercase hex: MD5 of the wrapped string, or HMAC-MD5 / HMAC-SHA256 keyed with the secret.
    public static func sign(_ parameters: [(String, String)], secret: String, method: Method) -> String {
        let text = Array(signString(parameters, secret: secret, method: method).utf8)
        let key = SymmetricKey(data: Array(secret.utf8))
        switch method {
        case .md5: return lowercaseHex(Insecure.MD5.hash(data: text)).uppercased()
        case .hmac: return lowercaseHex(HMAC<Insecure.MD5>.authenticationCode(for: text, using: key)).uppercased()
        case .hmacSHA256: return lowercaseHex(HMAC<SHA256>.authenticationCode(for: text, using: key)).uppercased()
        }
    }

    /// Java `Character.isWhitespace` for every character (and true for "").
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            switch scalar.value {
            case 0x09...0x0D, 0x1C...0x1F: return true
            case 0x00A0, 0x2007, 0x202F: return false  // Java excludes the no-break spaces
            default:
                switch scalar.properties.generalCategory {
                case .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
                default: return false
                }
            }
        }
    }
}

/// Lowercase hex of a digest or MAC.
func lowercaseHex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}
