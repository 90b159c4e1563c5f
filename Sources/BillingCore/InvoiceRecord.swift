/// An invoice's identity once stored: id, revision, status and number.
public struct InvoiceRecord: Hashable, Sendable {
    public let invoiceId: Int64
    public let projectId: String
    /// 0 for the original invoice; 1, 2 … for correcting revisions.
    public let revision: Int
    /// `draft`, `issued` or `superseded`.
    public let status: String
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
        invoiceId: Int64, projectId: String, revision: Int, status: String, invoiceNumber: String?, runId: Int64,
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
