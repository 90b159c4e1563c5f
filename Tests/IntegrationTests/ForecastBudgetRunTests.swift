import Foundation
import PostgresClient
import Testing

/// The spend forecast and budget alerts end to end against PostgreSQL
/// (docs/forecast-and-budgets.md), on the worked example of
/// Tests/Fixtures/forecast-october-2026: every figure below is checked by hand in the docs.
@Suite("Forecast and budget runs", .enabled(if: TestDatabase.serverReachable))
struct ForecastBudgetRunTests {
    /// Oct 16 00:00 KST: 15 days of October behind, 16 ahead.
    static let asOf = "2026-10-15T15:00:00Z"
    static let october = ["--period", "2026-10"]

    /// A database holding the worked example.
    static func example() throws -> (TestDatabase, PostgresConnection) {
        let t = try TestDatabase()
        try t.run(["migrate"]).expectSuccess()
        let db = try t.connect()
        try db.executeScript(try String(contentsOf: Fixtures.forecast.appendingPathComponent("source.sql"), encoding: .utf8))
        return (t, db)
    }

    static func invoice(_ db: PostgresConnection, _ columns: String = "status, subtotal::text, tax::text, total::text") throws -> [String] {
        try db.execute("SELECT \(columns) FROM current_invoices WHERE period = '2026-10' AND project_id = 'prj-fc'").rows.first?.map { $0 ?? "NULL" } ?? []
    }

    static func alerts(_ db: PostgresConnection, period: String = "2026-10") throws -> [String] {
        try db.execute("SELECT kind || ' ' || trim_scale(threshold)::text || ' ' || amount::text || ' run ' || run_id FROM budget_alerts WHERE period = $1 ORDER BY kind, threshold",
                       [period]).rows.map { $0[0]! }
    }

    @Test("forecast: the worked example's forecast (checked by hand) equals the invoice the whole month gets when billed after its end")
    func forecastThenMonthEnd() throws {
        let (t, db) = try Self.example()
        let out = tempDir()
        let draft = try t.run(["run"] + Self.october + ["--as-of", Self.asOf, "--out", out, "--json"]).expectSuccess()
        // So far: 3,555,556 + 13,542,144 + 4,486,944 = 21,584,644; 5,000,000 of credit; VAT 1,658,464.
        #expect(try Self.invoice(db) == ["draft", "21584644", "1658464", "18243108"])
        // If nothing changes: r2a 4,740,741 + 2,868,148 (rate from Oct 21), p2a 24,622,080 + 923,328 (10 % off from
        // Oct 25, capped at 500 h), p1i 4,486,944 (in error since Oct 12) = 37,641,241; credit 5,000,000; VAT 3,264,124.
        let forecast = try Self.invoice(db, "forecast_subtotal::text, forecast_credits_applied::text, forecast_tax::text, forecast_total::text, forecast_through")
        #expect(forecast == ["37641241", "5000000", "3264124", "35905365", "2026-10-31 15:00:00+00"])
        // The same figures in every output.
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/2026-10/invoices/prj-fc.json"))) as! [String: Any]
        let f = doc["forecast"] as! [String: String]
        #expect(f == ["if_nothing_changes_through": "2026-10-31T15:00:00Z", "subtotal": "37641241", "credits_applied": "5000000",
                      "tax": "3264124", "total": "35905365"])
        let summary = read(out + "/2026-10/summary.csv").split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let header = summary[0]
        let col = { (name: String) in header.firstIndex(of: Substring(name))! }
        let forecastTotals = summary.dropFirst().compactMap { r in r[col("forecast_total")].isEmpty ? nil : Int(r[col("forecast_total")])! }
        #expect(forecastTotals == [35_905_365], "the forecast is on the project's first row only, so the column adds up")
        #expect(summary.dropFirst().map { Int($0[col("total")])! }.reduce(0, +) == 18_243_108)
        #expect(draft.stdout.contains("\"forecast_totals\""))
        #expect(draft.stdout.contains("\"total\": \"35905365\""))
        try t.run(["export", "--period", "2026-10", "--format", "html", "--out", out]).expectSuccess()
        let html = read(out + "/2026-10/invoices/prj-fc.html")
        #expect(html.contains("If nothing changes, this month ends at") && html.contains("₩35,905,365"))
        let text = try t.run(["run"] + Self.october + ["--as-of", Self.asOf, "--out", tempDir()]).expectSuccess().stdout
        #expect(text.contains("if nothing changes after 2026-10-15T15:00:00Z, 2026-10 ends (to 2026-10-31T15:00:00Z) at:"))
        #expect(text.contains("35,905,365"))

        // The month billed after its end, with no change since: the invoice is the forecast.
        try t.run(["run"] + Self.october + ["--as-of", "2026-11-02T00:00:00Z", "--out", tempDir()]).expectSuccess()
        #expect(try Self.invoice(db) == ["issued", "37641241", "3264124", "35905365"])
        #expect(try Self.invoice(db, "forecast_total::text") == ["NULL"], "an issued invoice carries no forecast")
    }

    @Test("forecast: a change after as_of in the database plays no part in a run as of before it (and a draft whose forecast changes is written again)")
    func forecastKnowsOnlyAsOf() throws {
        let (t, db) = try Self.example()
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-p2a', 'deleted', '2026-10-20T00:00:00Z')")
        try t.run(["run"] + Self.october + ["--as-of", Self.asOf, "--out", tempDir()]).expectSuccess()
        #expect(try Self.invoice(db, "forecast_total::text") == ["35905365"])
        // The same as_of after a discount is added for the rest of the month: same draft figures, new forecast.
        try db.execute("INSERT INTO discounts (discount_id, project_id, type_name, percent, effective_from) VALUES ('d-r2a', 'prj-fc', 'r2a.baremetal', 50, '2026-10-25T15:00:00Z')")
        try t.run(["run"] + Self.october + ["--as-of", Self.asOf, "--out", tempDir()]).expectSuccess()
        #expect(try Self.invoice(db, "subtotal::text") == ["21584644"])
        #expect(try Self.invoice(db, "forecast_subtotal::text") != ["37641241"])
    }

    @Test("budgets: a threshold crossed raises one alert across three identical runs; actual and forecast crossings are separate alerts")
    func alertsOnce() throws {
        let (t, db) = try Self.example()
        let metrics = tempDir() + "/bmbill.prom"
        var outs: [String] = []
        for n in 1...3 {
            let out = tempDir()
            outs.append(out)
            let r = try t.run(["run"] + Self.october + ["--as-of", Self.asOf, "--out", out, "--json", "--metrics-file", metrics]).expectSuccess()
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            let period = (json["periods"] as! [[String: Any]])[0]
            let budgets = period["budgets"] as! [String: Any]
            #expect((budgets["alerts_raised"] as! [Any]).count == (n == 1 ? 4 : 0), "run \(n)")
            #expect(budgets["alerts_on_record"] as? Int == 4)
        }
        // Month to date 18,243,108 of 30,000,000 (60.8 %): actual 50 %. Forecast 35,905,365 (119.7 %): 50, 80, 100 %.
        #expect(try Self.alerts(db) == ["actual 50 18243108 run 1", "forecast 50 35905365 run 1", "forecast 80 35905365 run 1",
                                        "forecast 100 35905365 run 1"])
        for out in outs {
            let csv = read(out + "/2026-10/alerts.csv")
            #expect(csv.hasPrefix("period,budget_id,billing_account_id,project_id,kind,threshold_percent,currency,monthly_amount,amount,run_id,as_of\r\n"))
            #expect(csv.contains("2026-10,b-fc,acct-fc,,forecast,100,KRW,30000000,35905365,1,2026-10-15T15:00:00Z\r\n"))
            #expect(csv.split(separator: "\r\n").count == 5)
        }
        let prom = read(metrics)
        #expect(prom.contains("bmbill_budget_used_ratio{budget_id=\"b-fc\",period=\"2026-10\",currency=\"KRW\",billing_account_id=\"acct-fc\"} 0.608103"))
        #expect(prom.contains("bmbill_budget_forecast_ratio{budget_id=\"b-fc\",period=\"2026-10\",currency=\"KRW\",billing_account_id=\"acct-fc\"} 1.196845"))
        #expect(prom.contains("bmbill_budget_alerts_raised{period=\"2026-10\"} 0"))

        // The month billed after its end: the actual total (35,905,365) crosses 80 and 100 %, once.
        for _ in 1...2 { try t.run(["run"] + Self.october + ["--as-of", "2026-11-02T00:00:00Z", "--out", tempDir()]).expectSuccess() }
        #expect(try Self.alerts(db).filter { $0.hasPrefix("actual") } == ["actual 50 18243108 run 1", "actual 80 35905365 run 4",
                                                                          "actual 100 35905365 run 4"])
    }

    @Test("budgets: an alert stays on record when spend falls back, and a dry-run recompute raises none")
    func alertsKept() throws {
        let (t, db) = try Self.example()
        try t.run(["run"] + Self.october + ["--as-of", Self.asOf, "--out", tempDir()]).expectSuccess()
        #expect(try Self.alerts(db).count == 4)
        // Late data: the p2a server was deleted on Oct 6. The forecast falls under 50 %; the alerts stay.
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-p2a', 'deleted', '2026-10-05T15:00:00Z')")
        let r = try t.run(["run"] + Self.october + ["--as-of", Self.asOf, "--out", tempDir()]).expectSuccess()
        #expect(try Self.alerts(db).count == 4)
        #expect(r.stdout.contains("alerts on record for 2026-10: 4 (0 new, 4 earlier)"))
        // After the month: a dry run says what it would raise and writes nothing.
        try t.run(["run"] + Self.october + ["--as-of", "2026-11-02T00:00:00Z", "--out", tempDir()]).expectSuccess()
        try db.execute("DELETE FROM instance_state_changes WHERE instance_id = 'i-p2a' AND state = 'deleted'")
        try db.execute("UPDATE budgets SET monthly_amount = 1000")
        let before = try Self.alerts(db)
        let dry = try t.run(["recompute"] + Self.october + ["--as-of", "2026-11-02T00:00:00Z", "--dry-run"]).expectSuccess()
        #expect(dry.stdout.contains("! alert would raise: b-fc month to date reached 100 %"))
        #expect(try Self.alerts(db) == before)
    }

    @Test("budgets: a project's budget counts its own invoice; an account's, every project of the account")
    func holders() throws {
        let (t, db) = try Self.example()
        try db.executeScript("""
            INSERT INTO projects VALUES ('prj-fc2', 'Forecast Two', 'acct-fc');
            INSERT INTO instances VALUES ('i-2', 'prj-fc2', 'p1i.baremetal', 'Ubuntu 22.04', 'x', '2026-01-01T00:00:00Z');
            INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-2', 'active', '2026-09-01T00:00:00Z');
            INSERT INTO budgets (budget_id, project_id, monthly_amount, thresholds, effective_from) VALUES ('b-two', 'prj-fc2', 1000000000, '{1}', '2020-01-01');
            """)
        let r = try t.run(["run"] + Self.october + ["--as-of", "2026-11-02T00:00:00Z", "--out", tempDir(), "--json"]).expectSuccess()
        let totals = try db.execute("SELECT project_id, total::text FROM current_invoices WHERE period = '2026-10' ORDER BY 1").rows.map { Int($0[1]!)! }
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let budgets = ((json["periods"] as! [[String: Any]])[0]["budgets"] as! [String: Any])["budgets"] as! [[String: Any]]
        let byId = Dictionary(uniqueKeysWithValues: budgets.map { ($0["budget_id"] as! String, $0) })
        #expect(byId["b-fc"]?["month_to_date"] as? String == String(totals.reduce(0, +)))
        #expect(byId["b-two"]?["month_to_date"] as? String == String(totals[1]))
        #expect(byId["b-fc"]?["forecast"] is NSNull, "no forecast once the month has ended")
    }

    @Test("budgets: each bad budget row gives its warning, and invoices are issued all the same", arguments: [
        ("both holders", "('b-x', 'prj-fc', 'acct-fc', 'KRW', 100, NULL, '2020-01-01', NULL)", "has both a project_id and a billing_account_id"),
        ("no holder", "('b-x', NULL, NULL, 'KRW', 100, NULL, '2020-01-01', NULL)", "has neither a project_id nor a billing_account_id"),
        ("zero amount", "('b-x', 'prj-fc', NULL, 'KRW', 0, NULL, '2020-01-01', NULL)", "monthly_amount 0: it must be above 0"),
        ("negative amount", "('b-x', 'prj-fc', NULL, 'KRW', -5, NULL, '2020-01-01', NULL)", "it must be above 0"),
        ("threshold 0", "('b-x', 'prj-fc', NULL, 'KRW', 100, '{0,50}', '2020-01-01', NULL)", "threshold(s) 0 %: each must be in (0, 1000]"),
        ("threshold over 1000", "('b-x', 'prj-fc', NULL, 'KRW', 100, '{50,1000.5}', '2020-01-01', NULL)", "1000.5 %"),
        ("negative threshold", "('b-x', 'prj-fc', NULL, 'KRW', 100, '{-10}', '2020-01-01', NULL)", "-10 %"),
        ("NULL in thresholds", "('b-x', 'prj-fc', NULL, 'KRW', 100, '{50,NULL}', '2020-01-01', NULL)", "a threshold that is NULL or not a number"),
        ("NaN threshold", "('b-x', 'prj-fc', NULL, 'KRW', 100, '{NaN}', '2020-01-01', NULL)", "a threshold that is NULL or not a number"),
        ("empty thresholds", "('b-x', 'prj-fc', NULL, 'KRW', 100, '{}', '2020-01-01', NULL)", "an empty list of thresholds"),
        ("other currency", "('b-x', 'prj-fc', NULL, 'USD', 100, NULL, '2020-01-01', NULL)", "is in USD, not the run's currency KRW"),
        ("ends before it starts", "('b-x', 'prj-fc', NULL, 'KRW', 100, NULL, '2026-10-20', '2026-10-10')", "not after it starts"),
        ("versions overlap", "('b-x', 'prj-fc', NULL, 'KRW', 100, NULL, '2020-01-01', NULL), ('b-x', 'prj-fc', NULL, 'KRW', 200, NULL, '2026-10-10', NULL)",
         "is in force together with its version"),
        ("infinite start", "('b-x', 'prj-fc', NULL, 'KRW', 100, NULL, 'infinity', NULL)", "cannot be placed in time"),
    ])
    func badBudgets(_ c: (name: String, values: String, detail: String)) throws {
        let (t, db) = try Self.example()
        try db.execute("DELETE FROM budgets")
        try db.execute("INSERT INTO budgets (budget_id, project_id, billing_account_id, currency, monthly_amount, thresholds, effective_from, effective_to) VALUES \(c.values)")
        let out = tempDir()
        let r = try t.run(["run"] + Self.october + ["--as-of", "2026-11-02T00:00:00Z", "--out", out])
        #expect(r.status == 0, "\(c.name): \(r.stderr)")
        let anomalies = read(out + "/2026-10/anomalies.csv")
        #expect(anomalies.contains("2026-10,warning,invalid budget,"), "\(c.name)")
        #expect(anomalies.contains(c.detail), "\(c.name): \(anomalies)")
        #expect(try Self.invoice(db, "status") == ["issued"], "\(c.name)")
        #expect(try db.execute("SELECT count(*) FROM budget_alerts").scalar == "0", "\(c.name)")
    }

    @Test("budgets: the job raises alerts under the least-privileged roles, and can neither change budgets nor the alerts on record")
    func leastPrivilege() throws {
        let (t, db) = try Self.example()
        let job = "bmbill_bj_" + t.name.suffix(8)
        try db.execute("CREATE ROLE \(job) LOGIN")
        defer { _ = try? db.execute("DROP OWNED BY \(job)"); _ = try? db.execute("DROP ROLE \(job)") }
        try db.execute("GRANT bmbill_reader, bmbill_writer TO \(job)")
        let r = try t.run(["run"] + Self.october + ["--as-of", Self.asOf, "--out", tempDir()], env: ["PGUSER": job])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.alerts(db).count == 4)
        let asJob = try PostgresConnection(conninfo: "dbname=\(t.name) user=\(job)")
        for sql in ["UPDATE budget_alerts SET amount = 0", "DELETE FROM budget_alerts", "UPDATE budgets SET monthly_amount = 1",
                    "INSERT INTO budgets (budget_id, project_id, monthly_amount, effective_from) VALUES ('b-y', 'prj-fc', 1, '2020-01-01')"] {
            #expect(throws: PostgresError.self, "\(sql)") { try asJob.execute(sql) }
        }
    }

    @Test("budgets: the version in force during the month that starts last sets the month's budget; a version of another month plays no part")
    func versions() throws {
        let (t, db) = try Self.example()
        try db.executeScript("""
            UPDATE budgets SET effective_to = '2026-10-10T00:00:00Z';
            INSERT INTO budgets (budget_id, billing_account_id, monthly_amount, thresholds, effective_from, effective_to)
            VALUES ('b-fc', 'acct-fc', 1000000000, '{1,2}', '2026-10-10T00:00:00Z', '2026-11-01T00:00:00Z'),
                   ('b-fc', 'acct-fc', 1, '{1}', '2026-11-01T00:00:00Z', NULL);
            """)
        try t.run(["run"] + Self.october + ["--as-of", "2026-11-02T00:00:00Z", "--out", tempDir()]).expectSuccess()
        // 35,905,365 of 1,000,000,000 is 3.6 %: the 1 and 2 % thresholds, nothing else.
        #expect(try Self.alerts(db) == ["actual 1 35905365 run 1", "actual 2 35905365 run 1"])
        // November: the version from Nov 1 (1 KRW, at 1 %) applies.
        try t.run(["run", "--period", "2026-11", "--as-of", "2026-11-20T00:00:00Z", "--out", tempDir()]).expectSuccess()
        #expect(try Self.alerts(db, period: "2026-11").allSatisfy { $0.contains(" 1 ") })
    }
}
