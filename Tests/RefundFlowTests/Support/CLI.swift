import Foundation

/// Runs the real `refundflow` executable built next to the test bundle.
enum CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var executable: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // On Linux the tests run from `…/debug/RefundFlowPackageTests.xctest`; on macOS from inside a bundle.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("refundflow").path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("refundflow").path
    }

    static func run(_ arguments: [String], environment: [String: String] = [:], standardInput: String? = nil) throws -> Result {
        let process = Process()
        if let standardInput { process.standardInput = FileHandle(forReadingAtPath: standardInput) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.packageRoot)
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WDT_") && !$0.key.hasPrefix("TOP_") }
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}
