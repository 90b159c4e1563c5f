import BillingCore
import Testing

/// billing-rules.md section 5: invoices.
@Suite("5. Invoices")
struct InvoiceRulesTests {
    @Test("5. One invoice per project, with a line per instance and rate version")
    func onePerProject() {
        var w = World()
        w.instance("i-1", project: "prj-a")
        w.instance("i-2", project: "prj-a")
        w.instance("i-3", project: "prj-b")
        for id in ["i-1", "i-2", "i-3"] { w.change(id, "active", at: "2026-10-31T14:00:00Z") }
        let r = w.bill()
        #expect(r.invoices.map(\.project.id) == ["prj-a", "prj-b"])
        #expect(r.invoice("prj-a")!.lines.count == 2)
        #expect(r.invoice("prj-b")!.project.billingAccountId == nil)
    }

    @Test("5. A project with no billable usage in the period gets no invoice")
    func noUsageNoInvoice() {
        var w = World()
        w.instance("i-1", project: "prj-a")
        w.instance("i-2", project: "prj-b")
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z")
        w.change("i-2", "spawning", at: "2026-10-31T14:00:00Z")  // not billed
        #expect(w.bill().invoices.map(\.project.id) == ["prj-a"])
    }

    @Test("5. The fingerprint changes with what is charged and with nothing else")
    func fingerprint() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z")
        let a = w.bill().invoice("prj-a")!
        #expect(a.fingerprint == w.bill().invoice("prj-a")!.fingerprint)
        w.change("i-1", "deleting", at: "2026-10-31T14:30:00Z")
        #expect(a.fingerprint != w.bill().invoice("prj-a")!.fingerprint)
    }
}
