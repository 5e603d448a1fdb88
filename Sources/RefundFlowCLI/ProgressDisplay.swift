import Foundation
import RefundFlow
import Synchronization

/// One status line on a terminal for long runs: records/s, stage counts and an ETA from the
/// bytes read. Draws only when stderr is a terminal; no colour when NO_COLOR is set.
final class ProgressDisplay: Sendable {
    private let progress: RunProgress
    private let colour: Bool
    private let started = Date()
    private let finished = DispatchSemaphore(value: 0)
    /// Whether the thread should go on, and whether a line is on screen (to clear it).
    private let state = Mutex((running: true, drawn: false))

    /// Nil when stderr is not a terminal (cron, pipes): the run stays quiet.
    static func make(for progress: RunProgress, environment: [String: String]) -> ProgressDisplay? {
        guard isatty(STDERR_FILENO) == 1, environment["TERM"] != "dumb" else { return nil }
        return ProgressDisplay(progress: progress, colour: environment["NO_COLOR"] == nil)
    }

    private init(progress: RunProgress, colour: Bool) {
        self.progress = progress
        self.colour = colour
    }

    func start() {
        Thread { [self] in
            while state.withLock({ $0.running }) {
                draw()
                Thread.sleep(forTimeInterval: 0.5)
            }
            finished.signal()
        }.start()
    }

    /// Clears the line before another line is printed; the next tick draws it again.
    func pauseLine() {
        state.withLock { state in
            if state.drawn { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            state.drawn = false
        }
    }

    /// Stops drawing and clears the line so that the run's summary follows cleanly.
    func stop() {
        state.withLock { $0.running = false }
        finished.wait()
        pauseLine()
    }

    private func paint(_ text: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    private func draw() {
        let now = progress.snapshot
        let seconds = max(Date().timeIntervalSince(started), 0.001)
        var eta = "–"
        if now.bytes > 0, progress.totalBytes > now.bytes {
            let remaining = seconds * Double(progress.totalBytes - now.bytes) / Double(now.bytes)
            eta = String(format: "%d:%02d", Int(remaining) / 60, Int(remaining) % 60)
        } else if progress.totalBytes > 0, now.bytes >= progress.totalBytes {
            eta = "sending the last calls"
        }
        var line = "\(now.records) rows  \(Int(Double(now.records) / seconds)) rows/s  valid \(now.valid)  " + paint("rejected \(now.rejected)", "31")
        if now.acknowledged + now.unchanged + now.erpRejected + now.failed > 0 {
            line += "  " + paint("acknowledged \(now.acknowledged)", "32") + "  unchanged \(now.unchanged)"
            line += "  " + paint("ERP-rejected \(now.erpRejected)", "31") + "  " + paint("failed \(now.failed)", "33")
        }
        line += "  ETA \(eta)"
        state.withLock { state in
            guard state.running else { return }
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
            state.drawn = true
        }
    }
}
