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

    public init(definition: PipelineDefinition) {
        var required = Set(RefundField.allCases.filter(\.isRequired))
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
            guard let value = record[field] else {
                if required.contains(field) {
                    errors.append(
                        RowError(
                            code: .missing, field: field.rawValue, value: nil,
                            message: "\(field.rawValue) is required but the row has no value for it", location: locate(field)))
                }
                continue
            }
            switch (field.kind, value) {
            case (.text(let maxLength), .text(let text)), (.dateTime(let maxLength), .text(let text)):
                if text.utf8.count > maxLength {  // cheap pre-check: characters ≤ bytes
                    let characters = text.unicodeScalars.count
                    if characters > maxLength {
                        errors.append(
                            RowError(
                                code: .tooLong, field: field.rawValue, value: text,
                                message: "\(field.rawValue) is \(characters) characters long; the ERP allows at most \(maxLength)",
                                location: locate(field)))
                    }
                }
                if required.contains(field) && text.isEmpty {
                    errors.append(
                        RowError(
                            code: .missing, field: field.rawValue, value: "",
                            message: "\(field.rawValue) is required but empty", location: locate(field)))
                }
            case (.decimal, .decimal(let amount)):
                if amount.isNegative {
                    errors.append(
                        RowError(
                            code: .outOfRange, field: field.rawValue, value: amount.formatted(),
                            message: "\(field.rawValue) is negative (\(amount.formatted())); refunds carry positive amounts",
                            location: locate(field)))
                }
            default:
                break
            }
        }
    }
}
