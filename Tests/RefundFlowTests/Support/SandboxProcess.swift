import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A `refundflow sandbox` on a free loopback port, for end-to-end tests over real HTTP.
final class SandboxProcess {
    /// The credentials both sides use in the tests (made up).
    static let environment = [
        "WDT_SID": "test_sid", "WDT_APPKEY": "test_key", "WDT_APPSECRET": "s3cr3t-app-secret:test_salt",
        "TOP_APPKEY": "12345678", "TOP_SECRET": "t0p-s3cr3t", "TOP_SESSION": "sess-5ecret-6102",
    ]
    static let secrets = ["s3cr3t-app-secret", "t0p-s3cr3t", "sess-5ecret-6102"]

    let process = Process()
    let address: String
    let directory: String
    let database: String

    /// - Parameter database: an existing sandbox state to serve again (default a new one).
    init(_ arguments: [String] = [], database: String? = nil) throws {
        directory = try Fixtures.temporaryDirectory("refundflow-sandbox")
        self.database = database ?? directory + "/sandbox.sqlite"
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["sandbox", "--port", "0", "--db", self.database] + arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WDT_") && !$0.key.hasPrefix("TOP_") }
        env.merge(Self.environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line of stdout is the address.
        var line: [UInt8] = []
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            guard let first = byte.first else { break }
            if first == 0x0A { break }
            line.append(first)
        }
        address = String(decoding: line, as: UTF8.self)
        guard address.hasPrefix("http://") else {
            process.terminate()
            throw SandboxError(message: "the sandbox did not start: '\(address)'")
        }
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    struct SandboxError: Error { var message: String }

    /// GET a path and return the body.
    func get(_ path: String) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: address + path)!)
        return String(decoding: data, as: UTF8.self)
    }

    func jsonLines(_ path: String) async throws -> [[String: Any]] {
        try await get(path).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    /// Runs the CLI with the same credentials and `--endpoint` pointing here.
    func push(_ arguments: [String], environment: [String: String] = [:]) throws -> CLI.Result {
        var env = Self.environment
        env.merge(environment) { _, new in new }
        return try CLI.run(arguments + ["--endpoint", address], environment: env)
    }
}
