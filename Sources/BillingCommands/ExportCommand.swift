import ArgumentParser
import BillingCore
import BillingStore
import Foundation
import Logging
import PostgresClient
import Reports

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Finance exports of a period, from the stored invoices.",
        usage: "bmbill export --period <YYYY-MM> --format <format> [<options>]",
        discussion: """
            Formats (files under <out>/<period>/):
              focus     FinOps FOCUS 1.2 CSV: focus.csv
              summary   totals by account, project and category: summary.csv
              invoices  each invoice revision: invoices/<project>.r<revision>.json
              html      the invoice in force per project: invoices/<project>.html
              pdf       the same printed to A4: invoices/<project>.pdf

            FOCUS has one row per instance, charge category and local day, the credits an invoice \
            took as Credit rows, VAT as Tax rows and correcting revisions as Adjustment/Correction \
            rows: Σ BilledCost per InvoiceId is that invoice's total (a correction's difference). \
            ListCost is at list price, BilledCost after discounts; hours after a monthly cap count in \
            ConsumedQuantity only.

            The HTML comes from reports/templates/invoice.html, built into bmbill. PDF needs headless \
            Chromium (apt-get install chromium); BMBILL_CHROMIUM names another binary.

            Nothing is recomputed: exports read invoices and invoice_lines, and refuse stored figures \
            that do not add up.

            Examples:
              bmbill export --period 2026-10 --format focus
              bmbill export --period 2026-10 --format summary --out /srv/finance
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case focus, summary, invoices, html, pdf
    }

    @Option(help: ArgumentHelp("Month to export, YYYY-MM.", valueName: "YYYY-MM"))
    var period: String

    @Option(help: ArgumentHelp("What to export (see Formats above).", valueName: "format"))
    var format: Format

    @Option(help: ArgumentHelp("Output root (default reports/out; env BMBILL_OUT).", valueName: "dir"))
    var out: String?

    @Option(help: ArgumentHelp("Billing currency of the invoices to export (default KRW; env BMBILL_CURRENCY).", valueName: "code"))
    var currency: String?

    @Option(help: ArgumentHelp("Name of the provider and invoice issuer in FOCUS files.", valueName: "name"))
    var issuer = "Bare Metal Server"

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let month = try parsePeriod(period)
        let env = ProcessInfo.processInfo.environment
        let code = currency ?? env["BMBILL_CURRENCY"] ?? "KRW"
        guard let cur = Currency(code: code) else { throw BMBillError.usage("--currency '\(code)' is not a currency bmbill knows (ISO 4217)") }
        let root = out ?? env["BMBILL_OUT"].flatMap { $0.isEmpty ? nil : $0 } ?? "reports/out"
        let db = try openConnection(connection, command: "export")
        try Migrator().requireCurrent(db)
        let store = InvoiceStore(db)
        try store.checkSeals(period: month)
        let documents = try store.documents(period: month, currency: cur)
        guard !documents.isEmpty else {
            throw BMBillError.failure("no \(cur.code) invoices are stored for \(month); run 'bmbill run --period \(month)' first")
        }
        let dir = root + "/" + month.description
        try FileManager.default.createDirectory(atPath: dir + "/invoices", withIntermediateDirectories: true)
        var written: [String] = []
        switch format {
        case .focus:
            var focus = FocusExport()
            focus.issuer = issuer
            focus.serviceName = "Bare Metal Server"
            try OutputFolder.atomicWrite(focus.csv(documents), to: dir + "/focus.csv")
            written.append(dir + "/focus.csv")
        case .summary:
            let current = currentDocuments(documents)
            try OutputFolder.atomicWrite(PeriodFiles.summaryCSV(period: month, invoices: current.map { ($0.content, $0.record) }, pricing: current.hasPricing),
                                         to: dir + "/summary.csv")
            written.append(dir + "/summary.csv")
        case .html, .pdf:
            var html = InvoiceHTML()
            html.issuer = issuer
            for doc in currentDocuments(documents) {
                let base = dir + "/invoices/" + SafeFileName.of(doc.record.projectId)
                try OutputFolder.atomicWrite(try html.render(doc), to: base + ".html")
                if format == .pdf {
                    try PDFPrinter().print(html: base + ".html", to: base + ".pdf")
                    written.append(base + ".pdf")
                } else {
                    written.append(base + ".html")
                }
            }
        case .invoices:
            let pricing = documents.hasPricing
            for doc in documents {
                let path = dir + "/invoices/" + SafeFileName.of(doc.record.projectId) + ".r\(doc.record.revision).json"
                try OutputFolder.atomicWrite(PeriodFiles.documentJSON(doc, pricing: pricing).pretty, to: path)
                written.append(path)
            }
        }
        let issued = documents.filter { $0.record.status != .draft }.count
        print("exported \(format.rawValue) of \(month) (\(documents.count) invoice revisions, \(issued) issued or superseded): "
            + written.joined(separator: ", "))
    }

    /// The revision in force per project (what current_invoices shows).
    func currentDocuments(_ docs: [InvoiceDocument]) -> [InvoiceDocument] {
        var latest: [String: InvoiceDocument] = [:]
        for d in docs where d.record.status != .superseded {
            if let l = latest[d.record.projectId], l.record.revision > d.record.revision { continue }
            latest[d.record.projectId] = d
        }
        return latest.values.sorted { $0.record.projectId < $1.record.projectId }
    }
}

/// Prints an HTML file to PDF with headless Chromium.
struct PDFPrinter {
    var binary: String {
        if let b = ProcessInfo.processInfo.environment["BMBILL_CHROMIUM"], !b.isEmpty { return b }
        for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "chromium"
    }

    func print(html: String, to pdf: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("bmbill-chromium-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let tmp = pdf + ".tmp-\(getpid()).pdf"
        p.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--user-data-dir=" + profile,
            "--print-to-pdf=" + tmp, URL(fileURLWithPath: html).absoluteString,
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do {
            try p.run()
        } catch {
            throw BMBillError.failure("cannot start \(binary) to print PDF: \(error.localizedDescription); install it (apt-get install chromium) or set BMBILL_CHROMIUM")
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0, FileManager.default.fileExists(atPath: tmp) else {
            throw BMBillError.failure("\(binary) could not print \(html) to PDF (exit \(p.terminationStatus))")
        }
        guard rename(tmp, pdf) == 0 else { throw BMBillError.failure("cannot move the PDF into place at \(pdf)") }
    }
}
