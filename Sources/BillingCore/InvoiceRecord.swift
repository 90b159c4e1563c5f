/// Where an invoice revision stands (the `status` column of `invoices`).
public enum InvoiceStatus: String, Hashable, Sendable, Codable {
    /// Computed for a period still open, or kept from issue by data errors: replaced freely.
    case draft
    /// Numbered and final: never changed again.
    case issued
    /// Issued, then corrected by a later revision.
    case superseded
}

/// An invoice's identity once stored: id, revision, status and number.
public struct InvoiceRecord: Hashable, Sendable {
    public let invoiceId: Int64
    public let projectId: String
    /// 0 for the original invoice; 1, 2 … for correcting revisions.
    public let revision: Int
    public let status: InvoiceStatus
    /// Gapless, given at issue; nil on a draft.
    public let invoiceNumber: String?
    /// The run that wrote it.
    public let runId: Int64
    public let issuedAt: Instant?
    /// `InvoiceContent.fingerprint` of what it charges.
    public let fingerprint: String
    /// On a correcting revision: the invoice it corrects.
    public var correctsInvoiceId: Int64? = nil
    /// On a correcting revision: its total less the corrected one's (negative: a credit).
    public var difference: Int128? = nil

    public init(
        invoiceId: Int64, projectId: String, revision: Int, status: InvoiceStatus, invoiceNumber: String?, runId: Int64,
        issuedAt: Instant?, fingerprint: String
    ) {
        self.invoiceId = invoiceId
        self.projectId = projectId
        self.revision = revision
        self.status = status
        self.invoiceNumber = invoiceNumber
        self.runId = runId
        self.issuedAt = issuedAt
        self.fingerprint = fingerprint
    }
}
