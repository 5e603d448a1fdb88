import Foundation
import Testing

@testable import RefundFlow

struct CredentialsTests {
    static let file = """
        profiles:
          sandbox:
            endpoint: http://127.0.0.1:8080
            WDT_SID: sandbox_sid
            WDT_APPKEY: sandbox_key
            WDT_APPSECRET: "very-secret:salty"
            top_appkey: "12345678"
            top_secret: top-very-secret
            top_session: session-very-secret
          production:
            WDT_SID: prod_sid
            WDT_APPKEY: prod_key
            WDT_APPSECRET: "prod-secret:prod-salt"
        """

    func write(mode: Int) throws -> String {
        let path = try Fixtures.temporaryDirectory("refundflow-credentials") + "/credentials.yaml"
        try Fixtures.write(Self.file, to: path)
        chmod(path, mode_t(mode))
        return path
    }

    @Test func profilesGiveCredentialsAndTheirEndpoint() throws {
        let path = try write(mode: 0o600)
        let sandbox = try Credentials.load(file: path, profile: "sandbox")
        #expect(sandbox.wdt?.sid == "sandbox_sid" && sandbox.wdt?.qjb.salt == "salty")
        #expect(sandbox.top?.appKey == "12345678")
        #expect(sandbox.endpoint == "http://127.0.0.1:8080")
        let production = try Credentials.load(file: path, profile: "production")
        #expect(production.wdt?.appKey == "prod_key" && production.top == nil && production.endpoint == nil)
        // Nothing printable shows a secret.
        let shown = "\(sandbox) \(String(reflecting: sandbox)) \(sandbox.wdt!) \(sandbox.top!)"
        for secret in ["very-secret", "top-very-secret", "session-very-secret"] { #expect(!shown.contains(secret)) }
    }

    @Test func aFileOthersCanReadIsRefused() throws {
        let path = try write(mode: 0o644)
        #expect(throws: Diagnostic.self) { try Credentials.load(file: path, profile: "sandbox") }
        do {
            _ = try Credentials.load(file: path, profile: "sandbox")
        } catch {
            #expect(error.code == "credentials.file_readable")
            #expect(error.notes == ["run: chmod 600 \(path)"])
        }
    }

    @Test func anUnknownProfileListsTheKnownOnes() throws {
        let path = try write(mode: 0o600)
        do {
            _ = try Credentials.load(file: path, profile: "staging")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == "credentials.unknown_profile")
            #expect(error.notes == ["its profiles: production, sandbox"])
        }
    }

    @Test func theEnvironmentNeedsWholeSets() throws {
        let credentials = try Credentials.from(
            ["WDT_SID": "a", "WDT_APPKEY": "b", "WDT_APPSECRET": "c:d", "TOP_APPKEY": "k", "TOP_SECRET": "s", "TOP_SESSION": "x", "TOP_SIGN_METHOD": "md5"],
            source: "the environment")
        #expect(credentials.wdt?.sid == "a" && credentials.top?.signMethod == .md5)
        #expect(throws: Diagnostic.self) { try Credentials.from(["TOP_APPKEY": "k", "TOP_SECRET": "s"], source: "the environment") }
        // The sandbox verifies without a seller session.
        #expect(try Credentials.from(["TOP_APPKEY": "k", "TOP_SECRET": "s"], source: "env", requireSession: false).top != nil)
        #expect(throws: Diagnostic.self) { try Credentials.from(["WDT_SID": "a", "WDT_APPKEY": "b", "WDT_APPSECRET": "no-colon"], source: "env") }
    }

    @Test func jsonValuesKeepNumbersAndKeyOrderExactly() throws {
        let text = #"{"b":1.5000,"a":[12345678901234567890,"\u5f20",true,null],"c":{}}"#
        let value = try JSONValue.parse(text)
        #expect(value.serialized() == #"{"b":1.5000,"a":[12345678901234567890,"张",true,null],"c":{}}"#)
        #expect(value["a"]?.elements?[0].text == "12345678901234567890")
        #expect(throws: JSONValueError.self) { try JSONValue.parse("{\"a\":01}") }
        #expect(throws: JSONValueError.self) { try JSONValue.parse("[1,]") }
    }

    @Test func searchWindowsAreAtMostThirtyDaysAndGapless() throws {
        let windows = try RefundSearch.windows(from: "2024-01-01", to: "2024-03-15 12:00:00")
        #expect(windows.map(\.from) == ["2024-01-01 00:00:00", "2024-01-31 00:00:01", "2024-03-01 00:00:02"])
        #expect(windows.map(\.to) == ["2024-01-31 00:00:00", "2024-03-01 00:00:01", "2024-03-15 12:00:00"])
        for window in windows { #expect(ShanghaiTime.parse(window.to)! - ShanghaiTime.parse(window.from)! <= RefundSearch.maxWindowSeconds) }
        #expect(throws: Diagnostic.self) { try RefundSearch.windows(from: "2024-02-30", to: "2024-03-01") }
    }
}
