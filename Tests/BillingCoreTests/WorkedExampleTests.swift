import BillingCore
import Foundation
import Reports
import Testing

/// The worked month of the spec (Tests/Fixtures/october-2026, copied from
/// shared/spec/examples): its source rows must give exactly the invoices in expected.json.
@Suite("Worked example: October 2026 in Asia/Seoul")
struct WorkedExampleTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/october-2026")

    static func csv(_ name: String) -> [[String: String]] {
        let text = try! String(contentsOf: dir.appendingPathComponent(name + ".csv"), encoding: .utf8)
        return CSVReader.dictionaries(text)
    }

    static func instant(_ pg: String) -> Instant {
        // "2026-10-14 23:40:00.250000+00" -> ISO 8601
        Instant(iso8601: pg.replacingOccurrences(of: "+00", with: "Z"))!
    }

    static var catalog: BillingCatalog {
        BillingCatalog(
            projects: csv("projects").map { Project(id: $0["project_id"]!, name: $0["name"]!, billingAccountId: $0["billing_account_id"]!.isEmpty ? nil : $0["billing_account_id"]) },
            types: csv("instance_types").map { InstanceType(name: $0["type_name"]!, category: $0["category"]!) },
            instances: csv("instances").map {
                Instance(id: $0["instance_id"]!, projectId: $0["project_id"]!, typeName: $0["type_name"]!, image: $0["image"]!, name: $0["name"],
                         createdAt: instant($0["created_at"]!))
            },
            rates: csv("rates").map {
                RateVersion(typeName: $0["type_name"]!, currency: $0["currency"]!, hourlyRate: ExactDecimal(parsing: $0["hourly_rate"]!)!,
                            effectiveFrom: instant($0["effective_from"]!), effectiveTo: $0["effective_to"]!.isEmpty ? nil : instant($0["effective_to"]!))
            },
            billableStates: .seed)
    }

    static var changes: [String: [StateChange]] {
        Dictionary(grouping: csv("instance_state_changes"), by: { $0["instance_id"]! }).mapValues { rows in
            rows.map {
                StateChange(eventId: Int64($0["event_id"]!)!, state: $0["state"]!, changedAt: instant($0["changed_at"]!),
                            recordedAt: instant($0["recorded_at"]!))
            }
        }
    }

    static func bill(asOf: String) -> BillingResult {
        var engine = BillingEngine(period: october, asOf: Instant(iso8601: asOf)!, settings: BillingSettings(), catalog: catalog)!
        for (id, all) in changes.sorted(by: { $0.key < $1.key }) {
            let sorted = all.sorted(by: StateChange.inEffectOrder)
            let before = sorted.filter { $0.changedAt < october.start }.suffix(1)
            engine.meter(instanceId: id, changes: Array(before) + sorted.filter { $0.changedAt >= october.start && $0.changedAt < october.end })
        }
        return engine.finish()
    }

    static var expected: [String: Any] {
        try! JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("expected.json"))) as! [String: Any]
    }

    @Test("Every run of expected.json gives its invoices, lines and anomalies exactly")
    func matchesExpected() {
        let exp = Self.expected
        for run in exp["runs"] as! [[String: Any]] {
            let r = Self.bill(asOf: run["as_of"] as! String)
            let window = run["window_utc"] as! [String]
            #expect(r.window.start.iso8601 == window[0])
            #expect(r.window.end.iso8601 == window[1])
            #expect(r.isIssuable == ((run["status"] as! String) == "issued"))
            let invoices = run["invoices"] as! [String: [String: Any]]
            #expect(Set(r.invoices.map(\.project.id)) == Set(invoices.keys))
            for (project, want) in invoices {
                let got = r.invoice(project)!
                #expect(String(got.subtotal) == want["subtotal"] as! String, "\(project) subtotal")
                #expect(String(got.tax) == want["tax"] as! String, "\(project) tax")
                #expect(String(got.total) == want["total"] as! String, "\(project) total")
                for line in (want["lines"] as? [[String: String]]) ?? [] {
                    let l = got.lines.first { $0.instanceId == line["instance_id"] && $0.rate.effectiveFrom.iso8601 == line["rate_effective_from"] }
                    #expect(l.map { String($0.billableSeconds) } == line["billable_seconds"], "\(line)")
                    #expect(l.map { String($0.amount) } == line["amount"], "\(line)")
                }
            }
            for a in (run["anomalies"] as? [[String: Any]]) ?? [] {
                let kind = Anomaly.Kind(rawValue: a["kind"] as! String)!
                let match = r.anomalies.filter { $0.kind == kind && $0.instanceId == a["instance_id"] as? String }
                #expect(match.count == 1)
                #expect(match.first?.eventIds == (a["event_ids"] as! [Int]).map(Int64.init))
                #expect(match.first?.severity.rawValue == a["severity"] as? String)
            }
        }
        for project in exp["no_invoice"] as! [String] {
            #expect(Self.bill(asOf: "2026-12-01T00:00:00Z").invoice(project) == nil)
        }
    }

    @Test("The hand check of the README: i-a2 meters 1,437,599.75 s exactly")
    func exactSeconds() {
        #expect(Self.bill(asOf: "2026-12-01T00:00:00Z").billableMicros("i-a2") == 1_437_599_750_000)
    }
}
