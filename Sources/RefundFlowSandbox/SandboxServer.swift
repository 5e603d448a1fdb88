import Hummingbird
import Logging
import NIOCore
import RefundFlow

/// The request context: Hummingbird's, plus the channel, so that `--drop-rate` can close the
/// connection after processing instead of answering.
struct SandboxContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// `refundflow sandbox`: serves the three families' paths over HTTP on loopback.
public enum SandboxServer {
    /// Largest request body accepted (a 100-refund call is far below it).
    static let maxBody = 16 << 20

    /// Runs until SIGINT/SIGTERM. `started` receives the bound address (also for port 0).
    public static func run(
        core: SandboxCore, host: String = "127.0.0.1", port: Int, started: @escaping @Sendable (String) -> Void
    ) async throws {
        let router = Router(context: SandboxContext.self)
        router.post("/openapi") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: maxBody)
            let query = formDecode(request.uri.query ?? "")
            return try await respond(core.qjb(query: query, body: Array(body.readableBytesView)), context)
        }
        router.post("/openapi2/:script") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: maxBody)
            let form = formDecode(String(decoding: body.readableBytesView, as: UTF8.self))
            let script = context.parameters.get("script") ?? ""
            return try await respond(core.openAPI2(script: script, form: form), context)
        }
        router.post("/router/rest") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: maxBody)
            let form = formDecode(String(decoding: body.readableBytesView, as: UTF8.self))
            return try await respond(core.top(query: formDecode(request.uri.query ?? ""), form: form), context)
        }
        router.get("/_sandbox/refunds") { _, _ in jsonLines(try await core.storedRefunds()) }
        router.get("/_sandbox/requests") { _, _ in jsonLines(try await core.requestLog()) }
        for table in ["enterprise-refunds", "stockins", "top-refunds"] {
            router.get("/_sandbox/\(table)") { _, _ in jsonLines(try await core.stored(table)) }
        }
        var logger = Logger(label: "refundflow.sandbox")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "refundflow-sandbox"),
            onServerRunning: { channel in started("http://\(host):\(channel.localAddress?.port ?? port)") },
            logger: logger)
        try await app.runService()
    }

    private static func respond(_ answer: SandboxAnswer, _ context: SandboxContext) async throws -> Response {
        if answer.dropConnection {
            // Processed, but the caller never hears so: the ambiguous case.
            try? await context.channel.close()
        }
        return Response(
            status: HTTPResponse.Status(code: answer.httpStatus),
            headers: [.contentType: answer.httpStatus == 200 ? "application/json;charset=UTF-8" : "text/plain;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    private static func jsonLines(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/x-ndjson;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `application/x-www-form-urlencoded` (and query strings): `+` is a space, `%XX` a byte.
    public static func formDecode(_ text: String) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecode(parts[0]), parts.count > 1 ? percentDecode(parts[1]) : "")
        }
    }

    static func percentDecode(_ text: Substring) -> String {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            switch byte {
            case UInt8(ascii: "+"): out.append(0x20)
            case UInt8(ascii: "%") where bytes.count >= 2:
                if let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                    out.append(value)
                    bytes = bytes.dropFirst(2)
                } else {
                    out.append(byte)
                }
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
