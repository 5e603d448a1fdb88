import ArgumentParser
import Foundation
import RefundFlow
import RefundFlowSandbox

struct ERPSearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erp-search",
        abstract: "Read refunds from the ERP (aftersales.refund.Refund.search) and print them as JSON Lines.",
        discussion: """
            The span is split into windows of at most 30 days and read page by page from page 0. \
            Times are Asia/Shanghai. Orders print exactly as the ERP sent them, one per line, on stdout; \
            a summary goes to stderr.
            """)

    @Option(help: "Start of the span (modified time): yyyy-MM-dd or 'yyyy-MM-dd HH:mm:ss'.")
    var from: String

    @Option(help: "End of the span, inclusive.")
    var to: String

    @Option(help: "Comma-separated shop numbers (店铺编号); default all.")
    var shopNos: String?

    @Option(help: "Orders per page (at most 200 advised by the API page).")
    var pageSize = 100

    @Option(help: "Base URL of the ERP or the sandbox; /openapi is appended. Default: the profile's, else http://wdt.wangdian.cn.")
    var endpoint: String?

    @OptionGroup var credentials: CredentialOptions

    func validate() throws {
        if let endpoint { try validateEndpoint(endpoint) }
        if !(1...1000).contains(pageSize) { throw ValidationError("--page-size must be 1–1000") }
    }

    func run() async throws {
        let resolved = try credentials.resolve()
        if resolved.wdt == nil {
            printError("error: no WDT credentials in \(resolved.source) [credentials.missing]\n  note: set WDT_SID, WDT_APPKEY and WDT_APPSECRET, or use --credentials/--profile")
            throw ExitCode(1)
        }
        let transport = AsyncHTTPTransport(connectTimeout: .seconds(10), readTimeout: .seconds(60))
        let search = RefundSearch(
            signer: RequestSigner(credentials: resolved, endpoint: endpoint, unixTime: { Int(Date().timeIntervalSince1970) }),
            transport: transport, pageSize: pageSize, shopNos: shopNos, seed: UInt64.random(in: 0...UInt64.max))
        let output = FileHandle.standardOutput
        do {
            let summary = try await search.search(from: from, to: to) { order in
                output.write(Data((order.serialized() + "\n").utf8))
            }
            try await transport.shutdown()
            printError("erp-search: \(summary.orders) refunds in \(summary.pages) pages over \(summary.windows) windows of at most 30 days")
        } catch let diagnostic as Diagnostic {
            try? await transport.shutdown()
            printError(diagnostic.description)
            throw ExitCode(1)
        }
    }
}

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run a local, signature-verifying stand-in for WangDianTong (qjb and 企业版) and TOP.",
        discussion: """
            Serves POST /openapi, /openapi2/sales_refund_push.php and /router/rest with the real shapes; \
            verifies signs and timestamps with the credentials in WDT_SID/WDT_APPKEY/WDT_APPSECRET and \
            TOP_APPKEY/TOP_SECRET (or a --profile); stores what arrives in SQLite. GET /_sandbox/refunds and \
            /_sandbox/requests answer JSON Lines (also /_sandbox/enterprise-refunds, /_sandbox/stockins, \
            /_sandbox/top-refunds). Prints the address it listens on; --port 0 picks a free port.
            """)

    @Option(help: "Port on 127.0.0.1 (0: any free port).")
    var port = 8080

    @Option(help: "SQLite file for the sandbox's state (created if missing).")
    var db: String

    @Option(help: "Share of calls answered with a transient server error, 0…1.")
    var failRate = 0.0

    @Option(help: "Delay before each answer, in milliseconds.")
    var latencyMs = 0

    @Option(help: "Requests per minute before the real rate-limit answer (0: no limit).")
    var rateLimitPerMin = 0

    @Option(help: "Share of calls processed and then answered by closing the connection, 0…1.")
    var dropRate = 0.0

    @Option(help: "Seed for the injected faults.")
    var seed: UInt64 = 1

    @Option(help: "Refuse calls carrying a refund number with this prefix (a business rejection); repeatable.")
    var rejectRefundNo: [String] = []

    @OptionGroup var credentials: CredentialOptions

    func validate() throws {
        for (name, rate) in [("--fail-rate", failRate), ("--drop-rate", dropRate)] where !(0...1).contains(rate) {
            throw ValidationError("\(name) must be between 0 and 1")
        }
        if !(0...65535).contains(port) { throw ValidationError("--port must be 0–65535") }
        if latencyMs < 0 || rateLimitPerMin < 0 { throw ValidationError("--latency-ms and --rate-limit-per-min cannot be negative") }
    }

    func run() async throws {
        let resolved = try credentials.resolve()
        if resolved.wdt == nil && resolved.top == nil {
            printError("error: the sandbox needs credentials to verify signs [credentials.missing]\n  note: set WDT_SID, WDT_APPKEY and WDT_APPSECRET and/or TOP_APPKEY and TOP_SECRET (the same the client uses)")
            throw ExitCode(1)
        }
        var faults = SandboxFaults()
        faults.failRate = failRate
        faults.latency = .milliseconds(latencyMs)
        faults.rateLimitPerMinute = rateLimitPerMin
        faults.dropRate = dropRate
        faults.seed = seed
        faults.rejectRefundNoPrefixes = rejectRefundNo
        let core: SandboxCore
        do {
            core = try SandboxCore(databasePath: db, credentials: resolved, faults: faults)
        } catch {
            printError(
                Diagnostic(
                    code: "sandbox.db", message: "the sandbox cannot open its state file '\(db)': \(error)",
                    notes: ["give --db a file in a directory this user can write, e.g. --db /tmp/sandbox.sqlite"]
                ).description)
            throw ExitCode(1)
        }
        let families = [resolved.wdt != nil ? "WangDianTong (qjb, 企业版)" : nil, resolved.top != nil ? "TOP" : nil].compactMap { $0 }
        do {
            try await SandboxServer.run(core: core, port: port) { address in
                // The first line is the address alone, for scripts; then what it serves.
                FileHandle.standardOutput.write(Data((address + "\n").utf8))
                printError("sandbox: listening on \(address) for \(families.joined(separator: " and ")); state in \(db); Ctrl-C stops it")
            }
        } catch where "\(error)".contains("bind(") {
            // NIO's bind error, before the sandbox listened.
            let inUse = "\(error)".contains("Address already in use")
            printError(
                Diagnostic(
                    code: "sandbox.listen",
                    message: "the sandbox cannot listen on 127.0.0.1:\(port): \(inUse ? "the port is in use (another sandbox?)" : "\(error)")",
                    notes: ["choose another --port, or --port 0 for any free one (the first line printed is the address)"]
                ).description)
            throw ExitCode(1)
        }
    }
}
