import AsyncHTTPClient
import NIOCore

/// Sends signed requests. The live one is `AsyncHTTPTransport`; tests may inject another.
public protocol HTTPTransport: Sendable {
    /// Sends one request and returns the status and body; throws on timeouts and broken
    /// connections (the call may or may not have landed).
    func send(_ request: WireRequest) async throws -> ERPAnswer
    func shutdown() async throws
}

/// HTTP through AsyncHTTPClient, with connect and read timeouts and a pooled connection per
/// host. Answers larger than 64 MiB are refused.
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient
    private let deadline: Duration

    public init(connectTimeout: Duration, readTimeout: Duration) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .milliseconds(connectTimeout.milliseconds), read: .milliseconds(readTimeout.milliseconds))
        configuration.decompression = .enabled(limit: .ratio(20))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        // A whole exchange may take the connect time plus a read timeout per quiet stretch;
        // this bounds it so that no call hangs for ever.
        deadline = connectTimeout + readTimeout * 2
    }

    public func send(_ request: WireRequest) async throws -> ERPAnswer {
        var http = HTTPClientRequest(url: request.url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: request.contentType)
        http.headers.add(name: "User-Agent", value: "refundflow/\(RefundFlowVersion.string)")
        http.body = .bytes(NIOCore.ByteBuffer(bytes: request.body))
        let response = try await client.execute(http, timeout: .milliseconds(deadline.milliseconds))
        let body = try await response.body.collect(upTo: 64 << 20)
        return ERPAnswer(httpStatus: Int(response.status.code), body: Array(body.readableBytesView))
    }

    public func shutdown() async throws { try await client.shutdown() }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
