import Foundation
import Synchronization
import Testing

@testable import RefundFlow

/// The valid-record stage of a dry run works on a thread of its own; what it writes must be
/// exactly what the same work on the calling thread writes, in the same order.
struct ValidRecordOutputTests {
    /// Record `index`, with text of varying length, money, an integer and empty fields.
    private static func record(_ index: Int) -> RefundRecord {
        var record = RefundRecord()
        record.setText(.refundNo, Array("R\(index)".utf8))
        record.setText(.oid, Array(String(repeating: "9", count: 1 + index % 19).utf8))
        record.setText(.title, Array("纯棉T恤 \"\(index)\"\n第二行".utf8))
        record.setDecimal(.refundAmount, Decimal4(units: Int128(index) * 125))
        record.setInteger(.status, 1 + index % 5)
        if index % 3 == 0 { record.setText(.remark, Array(String(repeating: "备注", count: index % 50).utf8)) }
        return record
    }

    @Test func aBatchGivesBackEveryRecordExactly() {
        var batch = RefundRecordBatch(capacity: 4)
        let records = (0..<300).map(Self.record)
        for record in records { batch.append(record) }
        #expect(batch.count == 300)
        var unpacked: [RefundRecord] = []
        batch.forEach { unpacked.append($0) }
        #expect(unpacked == records)
        #expect(unpacked.map { $0.text(.title) } == records.map { $0.text(.title) })
    }

    /// A writer that keeps what it is given (from whichever thread) and can fail at one record.
    private final class Keeping: RecordWriter {
        let kept = Mutex<[String]>([])
        let failAt: Int?
        init(failAt: Int? = nil) { self.failAt = failAt }

        func add(_ record: RefundRecord) throws {
            let count = kept.withLock { $0.count }
            if count == failAt { throw Diagnostic(code: "output.unwritable", message: "disk full at record \(count)") }
            kept.withLock { $0.append(record.text(.refundNo) ?? "") }
        }

        func finish() throws -> WriterSummary {
            var summary = WriterSummary(target: "test", api: "test")
            summary.records = kept.withLock { $0.count }
            return summary
        }
    }

    private func write(_ count: Int, background: Bool, writer: Keeping) throws -> (String, WriterSummary) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rf-valid-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = ValidRecordOutput(records: try BufferedOutput(path: directory + "/records.jsonl"), writer: writer, background: background)
        for index in 0..<count { try output.add(Self.record(index)) }
        let summary = try output.finish()
        return (try String(contentsOfFile: directory + "/records.jsonl", encoding: .utf8), summary)
    }

    /// 1,000 records: several full batches and a part one.
    @Test func aBackgroundThreadWritesWhatTheCallingThreadWrites() throws {
        let inline = Keeping()
        let background = Keeping()
        let (inlineLines, inlineSummary) = try write(1_000, background: false, writer: inline)
        let (backgroundLines, backgroundSummary) = try write(1_000, background: true, writer: background)
        #expect(backgroundLines == inlineLines)
        #expect(backgroundLines.split(separator: "\n").count == 1_000)
        #expect(background.kept.withLock { $0 } == (0..<1_000).map { "R\($0)" })
        #expect(inline.kept.withLock { $0 } == background.kept.withLock { $0 })
        #expect(backgroundSummary == inlineSummary)
    }

    /// An error on the writing thread stops the run: the next `add` or `finish` throws it, and
    /// nothing after the failing record reaches the writer.
    @Test func anErrorOnTheWritingThreadIsThrown() throws {
        let writer = Keeping(failAt: 300)
        #expect(throws: Diagnostic.self) { _ = try write(5_000, background: true, writer: writer) }
        #expect(writer.kept.withLock { $0.count } == 300)

        let late = Keeping(failAt: 999)
        #expect(throws: Diagnostic.self) { _ = try write(1_000, background: true, writer: late) }
        #expect(late.kept.withLock { $0.count } == 999)
    }
}
