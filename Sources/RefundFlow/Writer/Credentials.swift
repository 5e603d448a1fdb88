import Foundation
import Yams

/// WangDianTong credentials: one set serves the 旗舰版 (qjb) and 企业版 (openapi2) families.
public struct WDTCredentials: Sendable, Hashable {
    public var sid: String
    public var appKey: String
    /// Whole appsecret: openapi2 signs with it as is; qjb splits it into secret and salt.
    var appSecret: String

    public init(sid: String, appKey: String, appSecret: String) {
        self.sid = sid
        self.appKey = appKey
        self.appSecret = appSecret
    }

    public var qjb: QJBCredentials { QJBCredentials(sid: sid, appKey: appKey, appSecret: appSecret) }
}

/// Taobao TOP credentials: app key, secret and the seller's session.
public struct TOPCredentials: Sendable, Hashable {
    public var appKey: String
    var secret: String
    /// The seller's authorisation; a secret like the app secret, never written out.
    var session: String

    /// Whether a seller session is set (the sandbox verifies without one; a push needs it).
    public var hasSession: Bool { !session.isEmpty }
    public var signMethod: TOPSigner.Method

    public init(appKey: String, secret: String, session: String, signMethod: TOPSigner.Method = .hmacSHA256) {
        self.appKey = appKey
        self.secret = secret
        self.session = session
        self.signMethod = signMethod
    }
}

/// Where credentials came from and what they hold. Printing one never shows a secret.
public struct Credentials: Sendable, Hashable {
    public var wdt: WDTCredentials?
    public var top: TOPCredentials?
    /// A profile may name the base URL it belongs to (sandbox or production).
    public var endpoint: String?
    /// "environment" or "credentials file PATH, profile NAME", for messages.
    public var source: String

    public init(wdt: WDTCredentials? = nil, top: TOPCredentials? = nil, endpoint: String? = nil, source: String) {
        self.wdt = wdt
        self.top = top
        self.endpoint = endpoint
        self.source = source
    }

    static let wdtNames = ["WDT_SID", "WDT_APPKEY", "WDT_APPSECRET"]
    static let topNames = ["TOP_APPKEY", "TOP_SECRET", "TOP_SESSION"]

    /// Reads `WDT_SID`, `WDT_APPKEY`, `WDT_APPSECRET`, `TOP_APPKEY`, `TOP_SECRET`, `TOP_SESSION`
    /// and `TOP_SIGN_METHOD` from a name → value table (the environment or a profile).
    /// - Parameter requireSession: false for the sandbox, which verifies signs but has no sellers.
    public static func from(
        _ values: [String: String], source: String, requireSession: Bool = true
    ) throws(Diagnostic) -> Credentials {
        func value(_ name: String) -> String? { values[name].flatMap { $0.isEmpty ? nil : $0 } }
        func group(_ names: [String], optional: Set<String> = []) throws(Diagnostic) -> [String]? {
            let found = names.map(value)
            let required = zip(names, found).filter { !optional.contains($0.0) }
            if required.allSatisfy({ $0.1 == nil }) { return nil }
            let missing = required.filter { $0.1 == nil }.map(\.0)
            guard missing.isEmpty else {
                throw Diagnostic(
                    code: "credentials.incomplete",
                    message: "\(missing.joined(separator: ", ")) not set in \(source), but \(required.filter { $0.1 != nil }.map(\.0).joined(separator: ", ")) is",
                    notes: ["set all of \(required.map(\.0).joined(separator: ", ")), or none of them"])
            }
            return found.map { $0 ?? "" }
        }
        var credentials = Credentials(source: source)
        if let wdt = try group(wdtNames) {
            guard wdt[2].contains(":") else {
                throw Diagnostic(
                    code: "credentials.bad_appsecret",
                    message: "WDT_APPSECRET in \(source) must have the form secret:salt (the value is not shown)",
                    notes: ["旺店通 gives the appsecret as 'secret:salt'; copy it whole"])
            }
            credentials.wdt = WDTCredentials(sid: wdt[0], appKey: wdt[1], appSecret: wdt[2])
        }
        if let top = try group(topNames, optional: requireSession ? [] : ["TOP_SESSION"]) {
            var method = TOPSigner.Method.hmacSHA256
            if let name = value("TOP_SIGN_METHOD") {
                guard let chosen = TOPSigner.Method(rawValue: name) else {
                    throw Diagnostic(
                        code: "credentials.bad_sign_method", message: "TOP_SIGN_METHOD is '\(name)'",
                        notes: ["use md5, hmac or hmac-sha256"])
                }
                method = chosen
            }
            credentials.top = TOPCredentials(appKey: top[0], secret: top[1], session: top[2], signMethod: method)
        }
        return credentials
    }

    /// Text (an ERP message, a transport error) with every secret replaced by `<redacted>`,
    /// should any service or library echo one back.
    public func scrub(_ text: String) -> String {
        var secrets = [wdt?.appSecret, wdt?.qjb.secret, top?.secret, top?.session].compactMap { $0 }.filter { $0.count >= 4 }
        secrets.sort { $0.count > $1.count }
        var scrubbed = text
        for secret in secrets where scrubbed.contains(secret) { scrubbed = scrubbed.replacingOccurrences(of: secret, with: "<redacted>") }
        return scrubbed
    }

    /// The default credentials file: `$REFUNDFLOW_CREDENTIALS`, else
    /// `~/.config/refundflow/credentials.yaml`.
    public static func defaultFile(environment: [String: String]) -> String {
        if let path = environment["REFUNDFLOW_CREDENTIALS"], !path.isEmpty { return path }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.config/refundflow/credentials.yaml"
    }

    /// Loads one profile of a credentials file:
    /// ```yaml
    /// profiles:
    ///   sandbox:
    ///     endpoint: http://127.0.0.1:8080
    ///     WDT_SID: …
    ///     WDT_APPKEY: …
    ///     WDT_APPSECRET: secret:salt
    ///   production:
    ///     WDT_SID: …
    /// ```
    /// The file is refused when its group or others may read or write it (it must be `chmod 600`).
    public static func load(file path: String, profile: String, requireSession: Bool = true) throws(Diagnostic) -> Credentials {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Diagnostic(
                code: "credentials.file_missing", message: "cannot read the credentials file '\(path)'",
                notes: ["create it with 'profiles:' and chmod 600, or pass --credentials PATH (README: Credentials)"])
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw Diagnostic(
                code: "credentials.file_readable",
                message: "the credentials file '\(path)' may be read by others (mode \(String(mode, radix: 8))); refusing to use it",
                notes: ["run: chmod 600 \(path)"])
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Diagnostic(code: "credentials.file_missing", message: "cannot read the credentials file '\(path)': \(error.localizedDescription)")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            // Yams' message may quote the line, which may hold a secret: say only where.
            throw Diagnostic(code: "credentials.bad_file", message: "the credentials file '\(path)' is not valid YAML", notes: ["check its indentation and quoting"])
        }
        guard let profiles = node?.mapping?["profiles"]?.mapping else {
            throw Diagnostic(code: "credentials.bad_file", message: "the credentials file '\(path)' has no 'profiles:' mapping")
        }
        guard let chosen = profiles[Node(profile)]?.mapping else {
            let names = profiles.keys.compactMap(\.string).sorted()
            throw Diagnostic(
                code: "credentials.unknown_profile", message: "the credentials file '\(path)' has no profile '\(profile)'",
                notes: ["its profiles: \(names.joined(separator: ", "))"])
        }
        var values: [String: String] = [:]
        for (key, value) in chosen {
            guard let name = key.string, let text = value.string else { continue }
            values[name.uppercased()] = text
        }
        let known = Set(wdtNames + topNames + ["TOP_SIGN_METHOD", "ENDPOINT"])
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            throw Diagnostic(
                code: "credentials.bad_file", message: "profile '\(profile)' in '\(path)' has an unknown key '\(unknown)'",
                notes: ["known keys: \(known.sorted().joined(separator: ", ")) (case does not matter)"])
        }
        var credentials = try from(values, source: "credentials file \(path), profile \(profile)", requireSession: requireSession)
        // Only a profile names an endpoint: a stray ENDPOINT variable must never redirect a push.
        credentials.endpoint = values["ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
        return credentials
    }

    /// The credentials for a run: a profile when one is asked for (or `--credentials` is given),
    /// else the environment.
    public static func resolve(
        environment: [String: String], file: String?, profile: String?, requireSession: Bool = true
    ) throws(Diagnostic) -> Credentials {
        if file != nil || profile != nil {
            return try load(
                file: file ?? defaultFile(environment: environment), profile: profile ?? "default", requireSession: requireSession)
        }
        return try from(environment, source: "the environment", requireSession: requireSession)
    }
}

extension WDTCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "WDTCredentials(sid: \(sid), appKey: \(appKey), appSecret: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["sid": sid, "appKey": appKey, "appSecret": "<redacted>"]) }
}

extension TOPCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "TOPCredentials(appKey: \(appKey), secret: <redacted>, session: <redacted>, signMethod: \(signMethod.rawValue))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["appKey": appKey, "secret": "<redacted>", "session": "<redacted>", "signMethod": signMethod.rawValue])
    }
}

// MARK: - Verifying signs (the sandbox's side), without exposing the secrets

extension WDTCredentials {
    /// True when a qjb request's query `sign` matches its parameters and exact body.
    public func verifiesQJB(query: [(String, String)], body: [UInt8]) -> Bool {
        let qjb = self.qjb
        guard let sign = query.last(where: { $0.0 == "sign" })?.1 else { return false }
        let expected = body.withUnsafeBufferPointer {
            QJBSigner.sign(query.filter { $0.0 != "sign" }, body: $0, secret: qjb.secret)
        }
        return constantTimeEqual(expected, sign.lowercased())
    }

    /// True when an openapi2 form's `sign` matches its other fields.
    public func verifiesOpenAPI2(form: [(String, String)]) -> Bool {
        guard let sign = form.last(where: { $0.0 == "sign" })?.1 else { return false }
        return constantTimeEqual(OpenAPI2Signer.sign(form.filter { $0.0 != "sign" }, appSecret: appSecret), sign.lowercased())
    }
}

extension TOPCredentials {
    /// True when a TOP request's `sign` matches its system and application parameters under
    /// the request's own `sign_method`.
    public func verifies(parameters: [(String, String)]) -> Bool {
        guard let sign = parameters.last(where: { $0.0 == "sign" })?.1,
            let method = TOPSigner.Method(rawValue: parameters.last(where: { $0.0 == "sign_method" })?.1 ?? "md5")
        else { return false }
        return constantTimeEqual(TOPSigner.sign(parameters.filter { $0.0 != "sign" }, secret: secret, method: method), sign.uppercased())
    }

    /// The session a request must carry, compared without leaking it.
    public func acceptsSession(_ given: String) -> Bool { session.isEmpty || constantTimeEqual(session, given) }
}

/// Compares two signs in time that does not depend on where they differ.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for index in x.indices { difference |= x[index] ^ y[index] }
    return difference == 0
}
