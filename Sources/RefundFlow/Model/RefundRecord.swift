/// One canonical field of a refund line: the `order_list` fields of
/// `aftersales.refund.RawRefund.upload`, plus `shop_no`, with the API's names, types and limits.
public enum RefundField: String, Sendable, Hashable, CaseIterable, Comparable {
    case shopNo = "shop_no"
    case refundNo = "refund_no"
    case num
    case tid
    case oid
    case type
    case status
    case refundVersion = "refund_version"
    case refundAmount = "refund_amount"
    case actualRefundAmount = "actual_refund_amount"
    case title
    case logisticsName = "logistics_name"
    case logisticsNo = "logistics_no"
    case buyerNick = "buyer_nick"
    case refundTime = "refund_time"
    case currentPhaseTimeout = "current_phase_timeout"
    case isAftersale = "is_aftersale"
    case reason
    case price
    case payAccount = "pay_account"
    case payNo = "pay_no"
    case remark
    case totalAmount = "total_amount"
    case specNo = "spec_no"
    case specID = "spec_id"
    case goodsNo = "goods_no"
    case goodsID = "goods_id"

    /// The value kind of a field, which decides how its text is parsed.
    public enum Kind: Sendable, Hashable {
        /// Text of at most `maxLength` characters.
        case text(maxLength: Int)
        /// A date-time written as `yyyy-MM-dd HH:mm:ss` (at most `maxLength` characters).
        case dateTime(maxLength: Int)
        /// Exact Decimal(19,4); `isMoney` fields render with at least 2 decimals.
        case decimal(isMoney: Bool)
        /// An integer in a closed range (the API's enums).
        case integer(ClosedRange<Int>)
    }

    public var kind: Kind {
        switch self {
        case .shopNo, .refundNo, .tid, .oid, .refundVersion, .logisticsName, .logisticsNo, .specNo, .specID,
            .goodsNo, .goodsID:
            return .text(maxLength: 40)
        case .title, .reason, .remark: return .text(maxLength: 255)
        case .buyerNick: return .text(maxLength: 100)
        case .payAccount: return .text(maxLength: 128)
        case .payNo: return .text(maxLength: 60)
        case .refundTime, .currentPhaseTimeout: return .dateTime(maxLength: 40)
        case .num: return .decimal(isMoney: false)
        case .refundAmount, .actualRefundAmount, .price, .totalAmount: return .decimal(isMoney: true)
        case .type: return .integer(0...4)
        case .status: return .integer(1...5)
        case .isAftersale: return .integer(0...1)
        }
    }

    /// Fields that must carry a non-empty value. `title` and `reason` are required by the API but
    /// may be empty strings ("若无传空字符串"); they default to "".
    public var isRequired: Bool {
        switch self {
        case .shopNo, .refundNo, .num, .tid, .oid, .type, .status, .refundVersion, .refundAmount,
            .actualRefundAmount, .buyerNick, .isAftersale:
            return true
        default: return false
        }
    }

    /// Fields the API wants present even when empty: sent as "".
    public var sendsEmptyString: Bool {
        switch self {
        case .title, .reason, .logisticsName, .logisticsNo: return true
        default: return false
        }
    }

    /// Order of declaration is the API's order; `shop_no` first.
    public static func < (a: RefundField, b: RefundField) -> Bool { a.ordinal < b.ordinal }

    /// Position in the API order (`shop_no` is 0); a switch, because this sits on the hot path.
    var ordinal: Int {
        switch self {
        case .shopNo: return 0
        case .refundNo: return 1
        case .num: return 2
        case .tid: return 3
        case .oid: return 4
        case .type: return 5
        case .status: return 6
        case .refundVersion: return 7
        case .refundAmount: return 8
        case .actualRefundAmount: return 9
        case .title: return 10
        case .logisticsName: return 11
        case .logisticsNo: return 12
        case .buyerNick: return 13
        case .refundTime: return 14
        case .currentPhaseTimeout: return 15
        case .isAftersale: return 16
        case .reason: return 17
        case .price: return 18
        case .payAccount: return 19
        case .payNo: return 20
        case .remark: return 21
        case .totalAmount: return 22
        case .specNo: return 23
        case .specID: return 24
        case .goodsNo: return 25
        case .goodsID: return 26
        }
    }

    /// Fields of one `order_list` element, in the API page's order.
    public static let orderListFields: [RefundField] = allCases.filter { $0 != .shopNo }
}

/// A typed value of one canonical field.
public enum FieldValue: Sendable, Hashable {
    case text(String)
    case decimal(Decimal4)
    case integer(Int)

    public var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    public var decimal: Decimal4? {
        if case .decimal(let value) = self { return value }
        return nil
    }

    public var integer: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }
}

/// One refund line, keyed by canonical field. Absent optional fields are `nil`.
///
/// Text lives as UTF-8 in one byte store, so mapping a row allocates no per-field Strings and
/// one record value can be reused for every row (`reset()`). `subscript` makes Strings on demand.
public struct RefundRecord: Sendable, Equatable {
    enum Slot: Sendable, Hashable {
        case empty
        case text(start: Int32, end: Int32)
        case decimal(Decimal4)
        case integer(Int)
    }

    private var slots: [Slot]
    private var storage: [UInt8]

    public init() {
        slots = Array(repeating: .empty, count: RefundField.allCases.count)
        storage = []
        storage.reserveCapacity(512)
    }

    /// Clears every field, keeping the allocations.
    public mutating func reset() {
        for index in slots.indices { slots[index] = .empty }
        storage.removeAll(keepingCapacity: true)
    }

    public subscript(field: RefundField) -> FieldValue? {
        get {
            switch slots[field.ordinal] {
            case .empty: return nil
            case .text(let start, let end): return .text(String(decoding: storage[Int(start)..<Int(end)], as: UTF8.self))
            case .decimal(let value): return .decimal(value)
            case .integer(let value): return .integer(value)
            }
        }
        set {
            switch newValue {
            case nil: slots[field.ordinal] = .empty
            case .text(let text):
                var text = text
                text.withUTF8 { setText(field, $0) }
            case .decimal(let value): slots[field.ordinal] = .decimal(value)
            case .integer(let value): slots[field.ordinal] = .integer(value)
            }
        }
    }

    public func has(_ field: RefundField) -> Bool {
        if case .empty = slots[field.ordinal] { return false }
        return true
    }

    /// Sets a text field from valid UTF-8 bytes.
    public mutating func setText(_ field: RefundField, _ bytes: UnsafeBufferPointer<UInt8>) {
        let start = Int32(storage.count)
        storage.append(contentsOf: bytes)
        slots[field.ordinal] = .text(start: start, end: Int32(storage.count))
    }

    public mutating func setText(_ field: RefundField, _ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { setText(field, $0) }
    }

    public mutating func setDecimal(_ field: RefundField, _ value: Decimal4) { slots[field.ordinal] = .decimal(value) }
    public mutating func setInteger(_ field: RefundField, _ value: Int) { slots[field.ordinal] = .integer(value) }

    /// Calls `body` with a text field's UTF-8 bytes; `nil` when the field is not text.
    public func withText<R>(_ field: RefundField, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        guard case .text(let start, let end) = slots[field.ordinal] else { return nil }
        return try storage.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[Int(start)..<Int(end)])) }
    }

    public func text(_ field: RefundField) -> String? { self[field]?.text }

    /// Every slot (by ordinal) and the byte store, for writers that render a whole record.
    func withSlots<R>(_ body: (UnsafeBufferPointer<Slot>, UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try slots.withUnsafeBufferPointer { slots in try storage.withUnsafeBufferPointer { try body(slots, $0) } }
    }

    public func decimal(_ field: RefundField) -> Decimal4? {
        if case .decimal(let value) = slots[field.ordinal] { return value }
        return nil
    }

    public func integer(_ field: RefundField) -> Int? {
        if case .integer(let value) = slots[field.ordinal] { return value }
        return nil
    }

    /// Records are equal when every field has the same value (however the bytes are stored).
    public static func == (a: RefundRecord, b: RefundRecord) -> Bool {
        RefundField.allCases.allSatisfy { a[$0] == b[$0] }
    }
}

/// Records packed into a few arrays, to hand many to another thread at once: the thread that
/// unpacks them allocates (and later frees) its copies itself, so the threads do not contend for
/// each other's malloc arena per record (handing over `RefundRecord` values did: +16% CPU), only
/// for the batch's three arrays.
struct RefundRecordBatch: Sendable {
    private var slots: [RefundRecord.Slot] = []
    private var storage: [UInt8] = []
    /// Where each record's bytes end in `storage`.
    private var ends: [Int] = []

    var count: Int { ends.count }

    init(capacity: Int) {
        slots.reserveCapacity(capacity * RefundField.allCases.count)
        storage.reserveCapacity(capacity * 512)
        ends.reserveCapacity(capacity)
    }

    mutating func append(_ record: RefundRecord) {
        record.withSlots { recordSlots, bytes in
            slots.append(contentsOf: recordSlots)
            storage.append(contentsOf: bytes)
        }
        ends.append(storage.count)
    }

    /// Calls `body` with each record in order, each unpacked into one reused value.
    func forEach(_ body: (RefundRecord) throws -> Void) rethrows {
        var record = RefundRecord()
        let width = RefundField.allCases.count
        var start = 0
        for (index, end) in ends.enumerated() {
            record.load(slots[(index * width)..<((index + 1) * width)], storage[start..<end])
            try body(record)
            start = end
        }
    }
}

extension RefundRecord {
    /// Replaces every field with packed ones (offsets relative to `bytes`).
    fileprivate mutating func load(_ packed: ArraySlice<Slot>, _ bytes: ArraySlice<UInt8>) {
        for (index, slot) in zip(slots.indices, packed) { slots[index] = slot }
        storage.removeAll(keepingCapacity: true)
        storage.append(contentsOf: bytes)
    }
}

/// Where a record came from: enough to point a person at it.
public struct RecordOrigin: Sendable, Hashable {
    /// The input path as the user typed it.
    public var file: String
    /// Physical line where the record starts (1-based).
    public var line: Int
    /// 1-based ordinal of the record within its file.
    public var record: Int

    public init(file: String, line: Int, record: Int) {
        self.file = file
        self.line = line
        self.record = record
    }
}
