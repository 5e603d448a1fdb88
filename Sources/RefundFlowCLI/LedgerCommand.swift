import ArgumentParser
import Foundation
import RefundFlow

struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "Look into a run ledger: what every record's state is with each target.",
        subcommands: [Show.self, Stats.self])

    struct Location: ParsableArguments {
        @Option(help: "The ledger file (a run's OUT/ledger.sqlite unless --ledger moved it).")
        var ledger: String

        /// Read only: looking inside a ledger never changes it (nor makes one of another file).
        func open() throws -> RunLedger {
            do {
                return try RunLedger(readingOnly: ledger)
            } catch {
                printError(error.description)
                throw ExitCode(1)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print ledger rows as JSON Lines.")

        @OptionGroup var location: Location

        @Option(help: "Only this state: planned, sent, acknowledged, rejected or ambiguous.")
        var state: String?

        @Option(help: "Only this target.")
        var target: String?

        @Option(help: "Only this refund number.")
        var refundNo: String?

        @Option(help: "At most this many rows.")
        var limit = 1000

        func validate() throws {
            if let state, RunLedger.State(rawValue: state) == nil {
                throw ValidationError("--state takes \(RunLedger.State.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() throws {
            try location.open().show(state: state, target: target, refundNo: refundNo, limit: limit) { print($0) }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count records and refund_amount per target and state.")

        @OptionGroup var location: Location

        func run() throws {
            let stats = try location.open().stats()
            print("target                  state          records   refund_amount")
            for row in stats.byTargetAndState {
                print(
                    row.target.padding(toLength: 24, withPad: " ", startingAt: 0) + row.state.padding(toLength: 13, withPad: " ", startingAt: 0)
                        + String(row.records).leftPadded(9) + "  " + row.refundAmount.leftPadded(14))
            }
            print("runs: \(stats.runs); last: \(stats.lastRun ?? "none")")
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
