import PostgresClient
import Testing

@Suite("libpq layer against a real PostgreSQL", .enabled(if: TestDatabase.serverReachable))
struct PostgresClientTests {
    @Test("Queries bind parameters; NULL and text round-trip")
    func parameters() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        let r = try db.execute("SELECT $1::text, $2::text IS NULL, $3::int8 + 1", ["O'Brien; DROP TABLE x --", nil, "41"])
        #expect(r.rows == [["O'Brien; DROP TABLE x --", "t", "42"]])
    }

    @Test("Errors carry SQLSTATE, the server's message and what bmbill was doing")
    func errorsCarrySQLState() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        do {
            try db.execute("SELECT * FROM no_such_table", context: "reading the void")
            Issue.record("expected an error")
        } catch let e as PostgresError {
            #expect(e.code == .query)
            #expect(e.sqlState == .undefinedTable)
            #expect(e.message.contains("no_such_table"))
            #expect(e.description.contains("while reading the void"))
        }
        // The connection is still usable after an error.
        #expect(try db.execute("SELECT 1").scalar == "1")
    }

    @Test("A failed connection says where and what to set, without a password")
    func connectionError() {
        do {
            _ = try PostgresConnection(conninfo: "host=/nonexistent-socket-dir port=1 user=u password=s3cret-pw dbname=x")
            Issue.record("expected an error")
        } catch let e as PostgresError {
            #expect(e.code == .connection)
            #expect(!e.description.contains("s3cret-pw"))
            #expect(e.hint?.contains("PGHOST") == true)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("Streaming hands over a large result one row at a time")
    func streaming() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        var count = 0
        var sum: Int64 = 0
        try db.stream("SELECT g FROM generate_series(1, 200000) g") { row in
            count += 1
            sum += row.int64(0)!
        }
        #expect(count == 200_000)
        #expect(sum == 200_000 * 200_001 / 2)
    }

    @Test("An error thrown while streaming cancels the query and leaves the connection usable")
    func streamingCancel() throws {
        struct Stop: Error {}
        let t = try TestDatabase()
        let db = try t.connect()
        var seen = 0
        #expect(throws: Stop.self) {
            try db.stream("SELECT g FROM generate_series(1, 50000000) g") { _ in
                seen += 1
                if seen == 10 { throw Stop() }
            }
        }
        #expect(seen == 10)
        #expect(try db.execute("SELECT 2").scalar == "2")
    }

    @Test("COPY in and out move rows exactly, escapes included")
    func copy() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try db.execute("CREATE TABLE c (a text, b int)")
        try db.copyIn("COPY c FROM STDIN") { send in
            try send("tab\\there\t1\n")
            try send("\\N\t2\n")
        }
        var out = ""
        try db.copyOut("COPY (SELECT a, b FROM c ORDER BY b) TO STDOUT") { buf in out += String(decoding: buf, as: UTF8.self) }
        #expect(out == "tab\\there\t1\n\\N\t2\n")
        #expect(throws: PostgresError.self) {
            try db.copyIn("COPY c FROM STDIN") { send in try send("not-a-number-row\tx\n") }
        }
        #expect(try db.execute("SELECT count(*) FROM c").scalar == "2")
    }

    @Test("COPY out row by row: left before its end it is cancelled, a failure on the server is thrown, and the connection goes on")
    func copyOutRows() throws {
        struct Stop: Error {}
        let t = try TestDatabase()
        let db = try t.connect()
        var rows = try db.copyOutRows("COPY (SELECT g FROM generate_series(1, 3) g) TO STDOUT")
        var read: [String] = []
        while let row = try rows.next() { read.append(String(decoding: row, as: UTF8.self)) }
        #expect(read == ["1\n", "2\n", "3\n"])
        #expect(try rows.next() == nil)
        _ = consume rows
        // A loop that throws after three rows of a million: the rest is cancelled, not read to the end.
        var seen = 0
        #expect(throws: Stop.self) {
            try db.copyOut("COPY (SELECT g FROM generate_series(1, 1000000) g) TO STDOUT") { _ in
                seen += 1
                if seen == 3 { throw Stop() }
            }
        }
        #expect(seen == 3)
        #expect(try db.execute("SELECT 2").scalar == "2")
        do {
            var dropped = try db.copyOutRows("COPY (SELECT g FROM generate_series(1, 1000000) g) TO STDOUT")
            #expect(try dropped.next() != nil)
        }
        #expect(try db.execute("SELECT 3").scalar == "3")
        #expect(throws: PostgresError.self) {
            try db.copyOut("COPY (SELECT 10 / (5 - g) FROM generate_series(1, 10) g) TO STDOUT") { _ in }
        }
        #expect(try db.execute("SELECT 4").scalar == "4")
    }

    @Test("A transaction commits on return and rolls back on error")
    func transactions() throws {
        struct Boom: Error {}
        let t = try TestDatabase()
        let db = try t.connect()
        try db.execute("CREATE TABLE x (v int)")
        try db.transaction { try db.execute("INSERT INTO x VALUES (1)") }
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.execute("INSERT INTO x VALUES (2)")
                throw Boom()
            }
        }
        #expect(try db.execute("SELECT string_agg(v::text, ',') FROM x").scalar == "1")
    }

    @Test("An advisory lock is held by one session at a time")
    func advisoryLock() throws {
        let t = try TestDatabase()
        let a = try t.connect(), b = try t.connect()
        #expect(try a.tryAdvisoryLock(42))
        #expect(try b.tryAdvisoryLock(42) == false)
        try a.advisoryUnlock(42)
        #expect(try b.tryAdvisoryLock(42))
    }
}
