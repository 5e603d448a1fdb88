/// Stage 3: checks a mapped record against the API's contract and reports every problem.
public protocol RecordValidator {
    /// Appends one error per broken rule. Fields in `skipping` already failed conversion.
    func validate(
        _ record: RefundRecord, skipping: FieldSet, locate: (RefundField) -> SourceLocation, errors: inout [RowError])
}

/// The RawRefund.upload contract: required fields, lengths in characters, enum ranges, and
/// non-negative amounts.
public struct RefundValidator: RecordValidator {
    let required: [RefundField]
    let checked: [RefundField]

    /// - Parameter targetRequires: fields the pipeline's target needs as well (e.g. `spec_no`
    ///   for a stock-in); a pipeline may still say `required: false` for them.
    public init(definition: PipelineDefinition, targetRequires: [RefundField] = []) {
        var required = Set(RefundField.allCases.filter(\.isRequired)).union(targetRequires)
        for field in definition.fields {
            if let flag = field.required {
                if flag { required.insert(field.field) } else { required.remove(field.field) }
            }
        }
        self.required = required.sorted()
        self.checked = RefundField.allCases
    }

    public func validate(
        _ record: RefundRecord, skipping: FieldSet, locate: (RefundField) -> SourceLocation, errors: inout [RowError]
    ) {
        for field in checked where !skipping.contains(field) {
            guard record.has(field) else {
                if required.contains(field) {
                    errors.append(
                        RowError(
                            code: .missing, field: field.rawValue, value: nil,
                            message: "\(field.rawValue) is required but the row has no value for it", location: locate(field)))
                }
                continue
            }
            switch field.kind {
            case .text(let maxLength), .dateTime(let maxLength):
                record.withText(field) { bytes in
                    // Characters ≤ bytes, so only long byte strings need counting.
                    if bytes.count > maxLength {
                        let characters = UTF8Validation.scalarCount(bytes)
                        if characters > maxLength {
                            errors.append(
                                RowError(
                                    code: .tooLong, field: field.rawValue, value: String(decoding: bytes, as: UTF8.self),
                                    message: "\(field.rawValue) is \(characters) characters long; the ERP allows at most \(maxLength)",
                                    location: locate(field)))
                        }
                    }
                    if bytes.isEmpty && required.contains(field) {
                        errors.append(
                            RowError(
                                code: .missing, field: field.rawValue, value: "",
                                message: "\(field.rawValue) is required but empty", location: locate(field)))
                    }
                }
            case .decimal:
                if let amount = record.decimal(field), amount.isNegative {
                    errors.append(
                        RowError(
                            code: .outOfRange, field: field.rawValue, value: amount.formatted(),
                            message: "\(field.rawValue) is negative (\(amount.formatted())); refunds carry positive \(field == .num ? "quantities" : "amounts")",
                            location: locate(field)))
                }
            case .integer:
                break
            }
        }
    }
}
