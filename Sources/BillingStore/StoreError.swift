import PostgresClient

/// A problem with the database's contents or schema, as opposed to a failed statement.
public enum StoreError: Error, CustomStringConvertible {
    /// A migration's text differs from the one applied under its version.
    case migrationChanged(name: String)
    /// The schema is missing or behind: `bmbill migrate` has not been run.
    case schemaNotReady(pending: [String])
    /// A source row could not be read (a value of the wrong form).
    case badSourceRow(table: String, key: String, problem: String)
    /// Issued invoices were changed after issue (their seals no longer match).
    case tamperedInvoices(period: String, numbers: [String])
    /// Issued invoice numbers that no invoice holds any more (deleted after issue).
    case missingInvoiceNumbers([String])

    public var description: String {
        switch self {
        case .migrationChanged(let name):
            return "migration \(name) was edited after it was applied; add a new numbered migration instead of changing an old one"
        case .schemaNotReady(let pending):
            return "the database schema is not ready (pending: \(pending.joined(separator: ", "))); run 'bmbill migrate' first"
        case .badSourceRow(let table, let key, let problem):
            return "\(table) row \(key): \(problem)"
        case .tamperedInvoices(let period, let numbers):
            return "issued invoice(s) \(numbers.joined(separator: ", ")) of \(period) were changed after issue: their stored figures or lines "
                + "no longer match the seal made when they were issued. bmbill never changes an issued invoice; restore the rows "
                + "from a backup (or find who changed them) before billing or exporting \(period) again"
        case .missingInvoiceNumbers(let numbers):
            return "issued invoice number(s) \(numbers.joined(separator: ", ")) are missing: the invoices that held them were deleted after "
                + "issue (bmbill never deletes an issued invoice, and its numbers are gapless). Restore them from a backup before billing again"
        }
    }
}
