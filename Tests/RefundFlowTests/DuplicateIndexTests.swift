import Testing

@testable import RefundFlow

struct DuplicateIndexTests {
    func insert(_ index: DuplicateIndex, _ key: String) throws -> Bool {
        try Array(key.utf8).withUnsafeBufferPointer { try index.insert($0) }
    }

    /// With a tiny spill threshold almost every key lives on disk: answers must stay exact.
    @Test func exactAcrossSpilledRuns() throws {
        let index = DuplicateIndex(directory: try Fixtures.temporaryDirectory(), spillThreshold: 101)
        for number in 0..<3_000 { #expect(try insert(index, "refund-\(number)\u{1F}oid-\(number * 7)")) }
        for number in stride(from: 0, to: 3_000, by: 3) { #expect(try !insert(index, "refund-\(number)\u{1F}oid-\(number * 7)")) }
        #expect(try insert(index, "refund-1\u{1F}oid-8"))
        #expect(try !insert(index, "refund-1\u{1F}oid-8"))
        #expect(index.count == 3_001)
    }

    /// A duplicate gets back where the first record was, from memory and from every spilled run.
    @Test func aDuplicateGetsTheFirstOriginBackInMemoryAndOnDisk() throws {
        let index = DuplicateIndex(directory: try Fixtures.temporaryDirectory(), spillThreshold: 50)
        func insert(_ number: Int, origin: UInt64) throws -> UInt64? {
            try Array("r-\(number)\u{1F}".utf8).withUnsafeBufferPointer { try index.insert($0, origin: origin) }
        }
        for number in 0..<1_000 { #expect(try insert(number, origin: UInt64(number) << 40 | 7) == nil) }
        for number in stride(from: 0, to: 1_000, by: 7) {
            #expect(try insert(number, origin: 99) == UInt64(number) << 40 | 7)
        }
        #expect(index.count == 1_000)
    }

    /// Runs larger than the spill writer's 256 KiB buffer (written in several pieces, blocks
    /// straddling them): every key is still found, with its origin, and no other.
    @Test func runsLargerThanTheSpillBufferStayExact() throws {
        let index = DuplicateIndex(directory: try Fixtures.temporaryDirectory(), spillThreshold: 20_000)
        func key(_ number: Int) -> [UInt8] { Array("refund-\(number)-\(String(repeating: "x", count: number % 37))\u{1F}".utf8) }
        for number in 0..<50_000 {
            #expect(try key(number).withUnsafeBufferPointer { try index.insert($0, origin: UInt64(number)) } == nil)
        }
        for number in stride(from: 0, to: 50_000, by: 97) {
            #expect(try key(number).withUnsafeBufferPointer { try index.insert($0, origin: 1 << 50) } == UInt64(number))
        }
        #expect(try key(50_000).withUnsafeBufferPointer { try index.insert($0, origin: 1) } == nil)
        #expect(index.count == 50_001)
    }

    @Test func keysThatDifferOnlyBySeparatorPlacementAreDifferent() throws {
        let index = DuplicateIndex(directory: try Fixtures.temporaryDirectory())
        #expect(try insert(index, "12\u{1F}3\u{1F}"))
        #expect(try insert(index, "1\u{1F}23\u{1F}"))
    }
}
