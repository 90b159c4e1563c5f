import Foundation
import Testing

import BillingCore
@testable import Reports

/// Issue 9: "A database without pricing rows bills exactly as before: same lines, amounts
/// and files". A period in which no discount, cap or credit plays a part
/// (`BillingResult.hasPricing`; for exports, the documents' `hasPricing`) gets the columns,
/// fields and keys bmbill wrote before pricing existed (commit 6885443), exactly; one in
/// which one does gets pricing's columns on every row.
@Suite("Files without pricing")
struct FilesWithoutPricingTests {
    // What bmbill wrote before pricing existed (6885443), written out here on purpose.
    static let usageColumns = [
        "period", "project_id", "project_name", "instance_id", "instance_name", "instance_type", "category", "image", "state",
        "billable", "rate_effective_from", "hourly_rate", "currency", "seconds", "amount", "invoice_line", "usage_date",
    ]
    static let invoiceLineColumns = [
        "period", "project_id", "invoice_id", "invoice_number", "status", "line_no", "instance_id", "instance_name",
        "instance_type", "category", "image", "rate_effective_from", "hourly_rate", "currency", "metered_seconds",
        "billable_seconds", "amount",
    ]
    static let summaryColumns = [
        "period", "billing_account_id", "project_id", "project_name", "category", "currency", "subtotal", "vat", "total",
        "invoice_number", "invoice_status", "revision",
    ]
    static let focusColumns = [
        "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
        "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
        "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceId",
        "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName",
        "PublisherName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory",
        "SkuId", "SkuMeter", "SkuPriceId", "SubAccountId", "SubAccountName",
        "x_InstanceType", "x_Category", "x_Image", "x_InvoiceStatus", "x_InvoiceRevision", "x_LineNumber", "x_BillableSeconds",
    ]
    /// An invoice document's keys (a stored revision's: the run's file adds `settings` before `fingerprint`).
    static let invoiceKeys = [
        "invoice_id", "invoice_number", "status", "revision", "corrects_invoice_id", "difference", "issued_at", "run_id", "period",
        "timezone", "period_utc", "billed_through", "project", "currency", "categories", "subtotal", "vat_rate", "tax", "total",
        "fingerprint",
    ]
    static let lineKeys = [
        "line_no", "instance_id", "instance_name", "instance_type", "image", "rate_effective_from", "rate_effective_to", "hourly_rate",
        "metered_seconds", "billable_seconds", "amount",
    ]
    static let manifestKeys = [
        "manifest_version", "period", "timezone", "period_utc", "billed_through", "usage_by", "status", "input_watermark", "settings",
        "counts", "totals", "anomalies", "rates_in_force", "invoices", "files",
    ]
    static let totalsKeys = ["currency", "subtotal", "tax", "total"]

    // The same with pricing playing a part (pricing.md section 4).
    static let pricedInvoiceKeys = [
        "invoice_id", "invoice_number", "status", "revision", "corrects_invoice_id", "difference", "issued_at", "run_id", "period",
        "timezone", "period_utc", "billed_through", "project", "currency", "categories", "list_subtotal", "discount", "subtotal",
        "credits", "credits_applied", "tax_base", "vat_rate", "tax", "total", "fingerprint",
    ]
    static let pricedLineKeys = lineKeys + ["list_amount", "discount", "discount_amount", "capped_seconds", "capped_hours"]
    static let pricedManifestKeys = [
        "manifest_version", "period", "timezone", "period_utc", "billed_through", "usage_by", "status", "input_watermark", "settings",
        "counts", "totals", "anomalies", "rates_in_force", "pricing", "invoices", "files",
    ]
    static let pricedTotalsKeys = ["currency", "list_subtotal", "discount", "subtotal", "credits_applied", "tax", "total"]

    static let krw = Currency(code: "KRW")!
    static let zone = BillingTimeZone(identifier: "Asia/Seoul")!
    static let period = BillingPeriod(month: YearMonth(year: 2026, month: 10)!, zone: zone)
    static let hour: Int64 = 3_600_000_000
    static let always = Instant(iso8601: "2020-01-01T00:00:00Z")!
    /// After October (in Seoul) has ended: a row from then plays no part in it.
    static let november = Instant(iso8601: "2026-11-15T00:00:00Z")!

    /// Pricing rows of a month: none, some that play a part, some that play none.
    enum Rows: String, CaseIterable {
        case none, discount, cap, credit
        case discountFromNovember, capFromNovember, creditInUSD, creditExpired

        var playsAPart: Bool { [.discount, .cap, .credit].contains(self) }

        var catalog: (discounts: [Discount], caps: [MonthlyCap], credits: [Credit]) {
            func discount(from: Instant) -> [Discount] {
                [Discount(id: "d-a", projectId: "prj-a", billingAccountId: nil, typeName: nil, category: nil, percent: ExactDecimal(parsing: "10")!,
                          effectiveFrom: from, effectiveTo: nil, description: "10 % off")]
            }
            func cap(from: Instant) -> [MonthlyCap] {
                [MonthlyCap(typeName: "r2a.baremetal", capHours: ExactDecimal(parsing: "50")!, effectiveFrom: from, effectiveTo: nil)]
            }
            func credit(_ currency: String, expires: Instant? = nil) -> [Credit] {
                [Credit(id: "c-1", billingAccountId: "acct-1", projectId: nil, currency: currency, amount: ExactDecimal(parsing: "100000")!,
                        validFrom: FilesWithoutPricingTests.always, expiresAt: expires, reason: "Welcome")]
            }
            switch self {
            case .none: return ([], [], [])
            case .discount: return (discount(from: FilesWithoutPricingTests.always), [], [])
            case .cap: return ([], cap(from: FilesWithoutPricingTests.always), [])
            case .credit: return ([], [], credit("KRW"))
            case .discountFromNovember: return (discount(from: FilesWithoutPricingTests.november), [], [])
            case .capFromNovember: return ([], cap(from: FilesWithoutPricingTests.november), [])
            case .creditInUSD: return ([], [], credit("USD"))
            case .creditExpired: return ([], [], credit("KRW", expires: Instant(iso8601: "2026-09-01T00:00:00Z")!))
            }
        }
    }

    /// October with one r2a server (3,600 KRW/h) active for 100 h, billed with `rows`, and
    /// planned as a run plans it (credits taken when issued).
    static func result(_ rows: Rows) -> BillingResult {
        let pricing = rows.catalog
        let catalog = BillingCatalog(
            projects: [Project(id: "prj-a", name: "Alpha", billingAccountId: "acct-1")],
            types: [InstanceType(name: "r2a.baremetal", category: "memory_optimized")],
            instances: [Instance(id: "i-1", projectId: "prj-a", typeName: "r2a.baremetal", image: "Ubuntu 22.04", name: "db", createdAt: Instant(seconds: 0))],
            rates: [RateVersion(typeName: "r2a.baremetal", currency: "KRW", hourlyRate: ExactDecimal(parsing: "3600")!, effectiveFrom: always, effectiveTo: nil)],
            billableStates: .seed, discounts: pricing.discounts, caps: pricing.caps, credits: pricing.credits)
        var engine = BillingEngine(period: period, asOf: period.end, settings: BillingSettings(), catalog: catalog)!
        let at = period.start.adding(microseconds: 1_000_000_000)
        engine.meter(instanceId: "i-1", changes: [
            StateChange(eventId: 1, state: "active", changedAt: at, recordedAt: at),
            StateChange(eventId: 2, state: "deleting", changedAt: at.adding(microseconds: 100 * hour), recordedAt: at),
        ])
        let result = engine.finish()
        let ledger = CreditLedger(credits: result.creditRows, applied: [:], currency: krw, period: period)
        return InvoicePlanner.plan(result, stored: [:], correctIssued: false, credits: ledger).result
    }

    /// The period's files of `r` in a fresh folder (removed by the caller).
    static func files(_ r: BillingResult) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bmbill-nopricing-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/invoices", withIntermediateDirectories: true)
        let records = Dictionary(uniqueKeysWithValues: r.invoices.enumerated().map { i, c in
            (c.project.id, InvoiceRecord(invoiceId: Int64(i + 1), projectId: c.project.id, revision: 0, status: .issued,
                                         invoiceNumber: "BM-0000000\(i + 1)", runId: 1, issuedAt: period.end, fingerprint: c.fingerprint))
        })
        _ = try PeriodFiles(result: r, records: records, usage: try UsageCSV.write(r, to: dir + "/usage.csv"))
        return dir
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    /// An object's keys, in the order written.
    static func keys(_ json: JSON?) -> [String] { json?.members?.map(\.0) ?? [] }

    @Test("pricing: a period with no pricing rows writes the files it wrote before pricing existed")
    func periodFiles() throws {
        for rows in Rows.allCases {
            let r = Self.result(rows)
            let priced = rows.playsAPart
            let what = "\(rows.rawValue): pricing \(priced ? "plays" : "plays no") part"
            #expect(r.hasPricing == priced, "\(what)")
            let dir = try Self.files(r)
            defer { try? FileManager.default.removeItem(atPath: dir) }

            // The CSV files: the old header exactly, or the old one then pricing's columns; every row as wide.
            for (file, old, pricing) in [("usage.csv", Self.usageColumns, ["discount_id", "capped"]),
                                         ("invoice_lines.csv", Self.invoiceLineColumns, ["discount_id", "discount_percent", "list_amount", "capped_seconds"]),
                                         ("summary.csv", Self.summaryColumns, ["list_subtotal", "discount", "credits_applied"])] {
                let records = CSVReader.records(Self.read(dir + "/" + file))
                #expect(records.first == old + (priced ? pricing : []), "\(what): \(file)")
                #expect(records.count > 1 && records.allSatisfy { $0.count == records[0].count }, "\(what): \(file)")
            }
            #expect(FileManager.default.fileExists(atPath: dir + "/credits.csv") == (rows == .credit), "\(what): credits.csv")

            // The invoice JSON: the document's keys (with the run's settings) and each line's.
            let invoice = JSON.parse(Self.read(dir + "/invoices/prj-a.json"))
            var keys = priced ? Self.pricedInvoiceKeys : Self.invoiceKeys
            keys.insert("settings", at: keys.count - 1)
            #expect(Self.keys(invoice) == keys, "\(what): invoice JSON")
            let lines = invoice?["categories"]?.arrayValue?.flatMap { $0["lines"]?.arrayValue ?? [] } ?? []
            #expect(!lines.isEmpty && lines.allSatisfy { Self.keys($0) == (priced ? Self.pricedLineKeys : Self.lineKeys) }, "\(what): invoice lines")

            // manifest.json: the run's pricing and pricing's totals only with pricing.
            let manifest = JSON.parse(Self.read(dir + "/manifest.json"))
            #expect(Self.keys(manifest) == (priced ? Self.pricedManifestKeys : Self.manifestKeys), "\(what): manifest")
            #expect(Self.keys(manifest?["totals"]) == (priced ? Self.pricedTotalsKeys : Self.totalsKeys), "\(what): manifest totals")
            #expect(Self.keys(r.totalsJSON) == Self.keys(manifest?["totals"]))
        }
        // Without pricing rows the figures are the old ones too: 100 h at 3,600 KRW/h.
        let plain = Self.result(.none).invoices[0]
        #expect(plain.subtotal == 360_000 && plain.tax == 36_000 && plain.total == 396_000)
    }

    /// A hand-made stored revision of `project` (one 2 h line of r2a on Oct 5) with what
    /// `pricing` names: a discounted line, a capped line or a credit.
    static func document(_ id: Int64, _ project: String, pricing: Rows = .none) -> InvoiceDocument {
        let rate = RateVersion(typeName: "r2a.baremetal", currency: "KRW", hourlyRate: ExactDecimal(parsing: "3600")!, effectiveFrom: always, effectiveTo: nil)
        let days = period.days.count
        var daily = [Int64](repeating: 0, count: days)
        daily[4] = 2 * hour
        let discount = pricing == .discount ? Rows.discount.catalog.discounts.first : nil
        let capped: Int64 = pricing == .cap ? hour : 0
        var cappedDaily: [Int64] = []
        if capped != 0 {
            cappedDaily = [Int64](repeating: 0, count: days)
            cappedDaily[4] = capped
        }
        let line = InvoiceLine(lineNumber: 1, instanceId: "i-\(id)", instanceName: nil, typeName: "r2a.baremetal", category: "memory_optimized",
                               image: "Ubuntu 22.04", rate: rate, meteredMicroseconds: 2 * hour + capped, dailyMicroseconds: daily,
                               stateMicroseconds: [StateTime(state: "active", microseconds: 2 * hour + capped)], billableSeconds: 7_200,
                               amount: discount == nil ? 7_200 : 6_480, listAmount: 7_200, discount: discount, cappedMicroseconds: capped,
                               dailyCappedMicroseconds: cappedDaily)
        let content = InvoiceContent(project: Project(id: project, name: project, billingAccountId: "acct-1"), currency: krw, lines: [line],
                                     vatRate: ExactDecimal(parsing: "0.10")!, rounding: .halfUp,
                                     credits: pricing == .credit ? [CreditTake(creditId: "c-1", amount: 1_000, reason: "Welcome")] : [])
        let record = InvoiceRecord(invoiceId: id, projectId: project, revision: 0, status: .issued, invoiceNumber: "BM-\(id)", runId: 1,
                                   issuedAt: period.end, fingerprint: content.fingerprint)
        return InvoiceDocument(record: record, content: content, period: period, windowEnd: period.end, vatRate: ExactDecimal(parsing: "0.10")!,
                               granularity: .second, rounding: .halfUp)
    }

    @Test("pricing: an export of stored invoices without pricing has the columns, keys and HTML it had before pricing existed")
    func exports() throws {
        let plain = Self.document(1, "prj-a")
        for pricing in [Rows.none, .discount, .cap, .credit] {
            let docs = pricing == .none ? [plain] : [plain, Self.document(2, "prj-b", pricing: pricing)]
            let priced = pricing != .none
            let what = "\(pricing.rawValue)"
            #expect(docs.hasPricing == priced, "\(what)")
            #expect(CSVReader.records(FocusExport().csv(docs))[0] == Self.focusColumns + (priced ? ["x_DiscountId", "x_DiscountPercent", "x_CappedHours", "x_CreditId"] : []),
                    "\(what): focus.csv")
            let summary = PeriodFiles.summaryCSV(period: Self.period.month, invoices: docs.map { ($0.content, $0.record) }, pricing: docs.hasPricing)
            #expect(CSVReader.records(summary)[0] == Self.summaryColumns + (priced ? ["list_subtotal", "discount", "credits_applied"] : []), "\(what): summary.csv")
            // Every revision of the export has the same keys: the plain one too when another has pricing.
            for doc in docs {
                let json = PeriodFiles.documentJSON(doc, pricing: docs.hasPricing)
                #expect(Self.keys(json) == (priced ? Self.pricedInvoiceKeys : Self.invoiceKeys), "\(what): \(doc.record.projectId) JSON")
                let lines = json["categories"]?.arrayValue?.flatMap { $0["lines"]?.arrayValue ?? [] } ?? []
                #expect(lines.allSatisfy { Self.keys($0) == (priced ? Self.pricedLineKeys : Self.lineKeys) }, "\(what): \(doc.record.projectId) lines")
            }
        }
        // The HTML of an invoice without pricing is, byte for byte, what the template of
        // 6885443 (Tests/Fixtures/invoice-before-pricing.html) renders.
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/invoice-before-pricing.html")
        var before = try String(contentsOf: url, encoding: .utf8)
        if before.hasSuffix("\n") { before.removeLast() }  // as scripts/embed-templates embeds it
        let html = InvoiceHTML()
        #expect(try html.render(plain) == InvoiceHTML.render(template: before, html.context(plain)))
        for pricing in [Rows.discount, .cap, .credit] {
            let doc = Self.document(2, "prj-b", pricing: pricing)
            #expect(try html.render(doc) != InvoiceHTML.render(template: before, html.context(doc)), "\(pricing.rawValue)")
        }
    }
}
