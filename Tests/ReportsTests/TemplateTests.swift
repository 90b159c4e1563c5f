import Foundation
import Testing

import BillingCore
@testable import Reports

@Suite("Templates")
struct TemplateTests {
    @Test("The invoice template built into the binary is exactly reports/templates/invoice.html")
    func embedded() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("reports/templates/invoice.html")
        #expect(EmbeddedTemplates.all["invoice.html"]! + "\n" == (try String(contentsOf: url, encoding: .utf8)), "run 'make templates'")
    }

    @Test("Money on invoices: ₩ with thousands separators; other currencies by code")
    func money() {
        #expect(InvoiceHTML.money(1_234_567, .init(code: "KRW")!) == "₩1,234,567")
        #expect(InvoiceHTML.money(-260_740, .init(code: "KRW")!) == "-₩260,740")
        #expect(InvoiceHTML.money(123_450, .init(code: "USD")!) == "USD 1,234.50")
        #expect(InvoiceHTML.hours(13_020_000_000) == "3.62")
    }
}
