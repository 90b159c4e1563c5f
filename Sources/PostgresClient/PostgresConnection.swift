import CLibPQ

#if canImport(Glibc)
    import Glibc
#endif

/// One libpq connection. Not thread-safe: use it from one thread at a time, and keep
/// its blocking calls off Swift concurrency's cooperative threads.
///
/// Connection settings follow libpq's conventions: an empty `conninfo` uses the `PG*`
/// environment variables, `PGSERVICE` and `~/.pgpass`; otherwise it is a `key=value`
/// string or a `postgresql://` URI.
public final class PostgresConnection {
    private let conn: OpaquePointer
    /// What the connection was opened with, to open more like it.
    public let conninfo: String

    /// Opens a connection, or throws `PostgresError` with code `.connection`.
    public init(conninfo: String = "") throws {
        self.conninfo = conninfo
        guard let c = PQconnectdb(conninfo) else {
            throw PostgresError(code: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(c) == CONNECTION_OK else {
            // libpq echoes a malformed string or URI, password and all.
            let message = Redaction.redact(String(cString: PQerrorMessage(c)).trimmingCharacters(in: " \n"), conninfo: conninfo)
            PQfinish(c)
            throw PostgresError(code: .connection, message: message, hint: "set PGHOST, PGPORT, PGDATABASE and PGUSER, or pass --db")
        }
        conn = c
        // CREATE ... IF NOT EXISTS and the like send notices; keep them off stderr.
        _ = try? execute("SET client_min_messages = warning")
    }

    deinit { PQfinish(conn) }

    /// Where this connection goes, without the password: `user@host:port/db`.
    public var displayName: String {
        func s(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "?" }
        return "\(s(PQuser(conn)))@\(s(PQhost(conn))):\(s(PQport(conn)))/\(s(PQdb(conn)))"
    }

    /// The server's version as an integer (`150018` for 15.18).
    public var serverVersion: Int { Int(PQserverVersion(conn)) }

    /// The server process serving this connection.
    public var backendPID: Int32 { PQbackendPID(conn) }

    /// Names the session in `pg_stat_activity` (PostgreSQL keeps the first 63 bytes, cut
    /// here at a character boundary); failures are ignored: the name is for people.
    public func setApplicationName(_ name: String) {
        var cut = ""
        for ch in name {
            guard cut.utf8.count + String(ch).utf8.count <= 63 else { break }
            cut.append(ch)
        }
        _ = try? execute("SELECT set_config('application_name', $1, false)", [cut])
    }

    // MARK: Queries

    /// Runs one statement with text parameters bound as `$1`, `$2` …, and returns all
    /// its rows. For large results use `stream`.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = [], context: String? = nil) throws -> QueryResult {
        let result = withParameters(parameters) { values in
            PQexecParams(conn, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw PostgresError.from(result: result, connection: conn, code: .query, context: context)
        }
        return QueryResult(copying: result!)
    }

    /// Runs a script of several statements with no parameters (migrations).
    public func executeScript(_ sql: String, context: String? = nil) throws {
        guard PQsendQuery(conn, sql) == 1 else {
            throw PostgresError.from(result: nil, connection: conn, code: .query, context: context)
        }
        var failure: PostgresError?
        while let result = PQgetResult(conn) {
            let status = PQresultStatus(result)
            if failure == nil, status != PGRES_COMMAND_OK, status != PGRES_TUPLES_OK, status != PGRES_EMPTY_QUERY {
                failure = PostgresError.from(result: result, connection: conn, code: .query, context: context)
            }
            PQclear(result)
        }
        if let failure { throw failure }
    }

    /// Runs a query and hands its rows to `body` one at a time (libpq's single-row
    /// mode), so memory stays bounded whatever the result's size. A `Row` is valid only
    /// during its call. If `body` throws, the query is cancelled and the error rethrown.
    public func stream(_ sql: String, _ parameters: [String?] = [], context: String? = nil, _ body: (Row) throws -> Void) throws {
        let sent = withParameters(parameters) { values in
            PQsendQueryParams(conn, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw PostgresError.from(result: nil, connection: conn, code: .query, context: context) }
        guard PQsetSingleRowMode(conn) == 1 else {
            drain()
            throw PostgresError(code: .query, message: "could not enter single-row mode", context: context)
        }
        var failure: Error?
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            if status == PGRES_SINGLE_TUPLE {
                guard failure == nil else { continue }
                do {
                    try body(Row(result: result))
                } catch {
                    failure = error
                    cancel()
                }
            } else if status != PGRES_TUPLES_OK && failure == nil {
                failure = PostgresError.from(result: result, connection: conn, code: .query, context: context)
            }
        }
        if let failure { throw failure }
    }

    // MARK: COPY

    /// Runs `COPY … FROM STDIN` and sends the data `produce` writes through its
    /// argument (text in the COPY format of the statement). COPY takes no parameters:
    /// build `sql` from validated names only.
    public func copyIn(_ sql: String, context: String? = nil, _ produce: (_ send: (String) throws -> Void) throws -> Void) throws {
        try copyInBytes(sql, context: context) { send in
            try withoutActuallyEscaping(send) { send in
                try produce { text in
                    var text = text
                    try text.withUTF8 { try send($0) }
                }
            }
        }
    }

    /// `copyIn` for data as bytes (`FORMAT binary`, or text already encoded).
    public func copyInBytes(_ sql: String, context: String? = nil, _ produce: (_ send: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Void) throws {
        let start = PQexec(conn, sql)
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            let error = PostgresError.from(result: start, connection: conn, code: .copy, context: context)
            PQclear(start)
            throw error
        }
        PQclear(start)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        func flush() throws {
            guard !buffer.isEmpty else { return }
            let ok = buffer.withUnsafeBufferPointer { p in
                p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { PQputCopyData(conn, $0, Int32(p.count)) }
            }
            buffer.removeAll(keepingCapacity: true)
            guard ok == 1 else { throw PostgresError.from(result: nil, connection: conn, code: .copy, context: context) }
        }
        do {
            try produce { data in
                buffer.append(contentsOf: data)
                if buffer.count >= 1 << 16 { try flush() }
            }
            try flush()
        } catch {
            _ = PQputCopyEnd(conn, "aborted by bmbill")
            drain()
            throw error
        }
        guard PQputCopyEnd(conn, nil) == 1 else {
            throw PostgresError.from(result: nil, connection: conn, code: .copy, context: context)
        }
        if let failure = endCopy(failed: false, context: context) { throw failure }
    }

    /// Runs `COPY … TO STDOUT` and hands each data row (as libpq delivers it, with its
    /// newline) to `body`. Each buffer is freed after its call; an error thrown by `body`
    /// cancels the COPY and is rethrown.
    public func copyOut(_ sql: String, context: String? = nil, _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var rows = try copyOutRows(sql, context: context)
        while let row = try rows.next() { try body(row) }
    }

    /// Starts `COPY … TO STDOUT`; its rows are read with `CopyOutRows.next`. A loop over
    /// them captures nothing (a closure over a loop's variables has them checked for
    /// exclusive access at run time on every row).
    public func copyOutRows(_ sql: String, context: String? = nil) throws -> CopyOutRows {
        let start = PQexec(conn, sql)
        if PQresultStatus(start) != PGRES_COPY_OUT {
            let error = PostgresError.from(result: start, connection: conn, code: .copy, context: context)
            PQclear(start)
            throw error
        }
        PQclear(start)
        return CopyOutRows(connection: self, context: context)
    }

    /// The next data row of the COPY under way: its byte count, and libpq's buffer in
    /// `pointer` (to be freed with `PQfreemem`); -1 at its end, -2 on an error.
    fileprivate func nextCopyRow(_ pointer: inout UnsafeMutablePointer<CChar>?) -> Int32 { PQgetCopyData(conn, &pointer, 0) }

    /// The error that ended a COPY (in or out), or the first error among its results (all read).
    fileprivate func endCopy(failed: Bool, context: String?) -> PostgresError? {
        var failure = failed ? PostgresError.from(result: nil, connection: conn, code: .copy, context: context) : nil
        while let result = PQgetResult(conn) {
            if failure == nil, PQresultStatus(result) != PGRES_COMMAND_OK {
                failure = PostgresError.from(result: result, connection: conn, code: .copy, context: context)
            }
            PQclear(result)
        }
        return failure
    }

    /// Stops a COPY left before its end: cancels it and reads what is still on the way.
    fileprivate func abandonCopy() {
        cancel()
        var pointer: UnsafeMutablePointer<CChar>?
        while PQgetCopyData(conn, &pointer, 0) > 0 {
            if let p = pointer { PQfreemem(p) }
            pointer = nil
        }
        drain()
    }

    // MARK: Transactions and locks

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    @discardableResult
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN", context: "starting a transaction")
        do {
            let value = try body()
            try execute("COMMIT", context: "committing")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// Takes a session-level advisory lock without waiting; false when another
    /// session holds it. The lock lasts until `advisoryUnlock` or the connection closes.
    public func tryAdvisoryLock(_ key: Int64) throws -> Bool {
        try execute("SELECT pg_try_advisory_lock($1::int8)", [String(key)], context: "taking the advisory lock").rows.first?[0] == "t"
    }

    public func advisoryUnlock(_ key: Int64) throws {
        try execute("SELECT pg_advisory_unlock($1::int8)", [String(key)], context: "releasing the advisory lock")
    }

    // MARK: Internals

    private func cancel() {
        guard let handle = PQgetCancel(conn) else { return }
        var errbuf = [CChar](repeating: 0, count: 256)
        _ = PQcancel(handle, &errbuf, Int32(errbuf.count))
        PQfreeCancel(handle)
    }

    private func drain() {
        while let result = PQgetResult(conn) { PQclear(result) }
    }

    /// Calls `body` with C strings for `parameters` (NULL for nil), freed afterwards.
    private func withParameters<R>(_ parameters: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let copies: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { for p in copies { free(p) } }
        return body(copies.map { $0.map { UnsafePointer($0) } })
    }
}

/// A fully read result: column names and text values (nil for SQL NULL).
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [[String?]]

    init(copying result: OpaquePointer) {
        let n = Int(PQntuples(result)), m = Int(PQnfields(result))
        let columns = (0..<m).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(n)
        for r in 0..<n {
            rows.append((0..<m).map { c in
                PQgetisnull(result, Int32(r), Int32(c)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(r), Int32(c)))
            })
        }
        self.rows = rows
        self.columns = columns
    }

    /// The first column of the first row, when there is one.
    public var scalar: String? { rows.first?.first ?? nil }
}

/// A row of a streamed result, valid only inside the `stream` callback that received it.
public struct Row {
    let result: OpaquePointer

    public var count: Int { Int(PQnfields(result)) }

    public func isNull(_ column: Int) -> Bool { PQgetisnull(result, 0, Int32(column)) == 1 }

    /// The column's text, or nil for NULL.
    public func string(_ column: Int) -> String? {
        isNull(column) ? nil : String(cString: PQgetvalue(result, 0, Int32(column)))
    }

    /// The column parsed as a 64-bit integer without building a `String`; nil for NULL
    /// or for text that is not an integer.
    public func int64(_ column: Int) -> Int64? {
        guard !isNull(column), let p = PQgetvalue(result, 0, Int32(column)) else { return nil }
        let length = Int(PQgetlength(result, 0, Int32(column)))
        return p.withMemoryRebound(to: UInt8.self, capacity: length) { parseInt64(UnsafeBufferPointer(start: $0, count: length)) }
    }
}

/// Parses an optionally signed decimal integer; nil on any other byte or on overflow.
public func parseInt64(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
    var i = 0
    var negative = false
    if i < bytes.count, bytes[i] == 45 || bytes[i] == 43 {
        negative = bytes[i] == 45
        i += 1
    }
    guard i < bytes.count else { return nil }
    var value: Int64 = 0
    while i < bytes.count {
        let d = bytes[i]
        guard d >= 48 && d <= 57 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (a, o2) = negative ? m.subtractingReportingOverflow(Int64(d - 48)) : m.addingReportingOverflow(Int64(d - 48))
        guard !o1, !o2 else { return nil }
        value = a
        i += 1
    }
    return value
}

/// A value that is NULL or not of the form a column must have: the error names the table,
/// the row (by its key) and the column, so that whoever owns the data can fix it.
public struct ColumnValueError: Error, CustomStringConvertible, Sendable {
    public let table: String
    public let key: String
    public let column: String
    public let problem: String

    public var description: String { "\(table) row \(key): column \(column) \(problem)" }
}

/// One row of a `QueryResult`, read by column position with errors that say where a bad
/// value is (`ColumnValueError`) instead of trapping on it.
public struct CheckedRow: Sendable {
    public let table: String
    public let values: [String?]
    /// The row's key for messages: the value of column `keyColumn`, or `?` when NULL.
    public let key: String

    public init(table: String, values: [String?], keyColumn: Int = 0) {
        self.table = table
        self.values = values
        self.key = values.indices.contains(keyColumn) ? values[keyColumn] ?? "?" : "?"
    }

    /// The column's text, which must not be NULL.
    public func text(_ i: Int, _ column: String) throws -> String {
        guard let v = values[i] else { throw ColumnValueError(table: table, key: key, column: column, problem: "is NULL") }
        return v
    }

    /// The column's text, or nil for NULL.
    public func optional(_ i: Int) -> String? { values[i] }

    /// The column as a 64-bit integer, which must not be NULL.
    public func int64(_ i: Int, _ column: String) throws -> Int64 {
        let v = try text(i, column)
        guard let n = Int64(v) else { throw ColumnValueError(table: table, key: key, column: column, problem: "'\(v)' is not an integer") }
        return n
    }

    /// The column as a 64-bit integer, or nil for NULL.
    public func optionalInt64(_ i: Int, _ column: String) throws -> Int64? {
        guard values[i] != nil else { return nil }
        return try int64(i, column)
    }

    /// An error about this row's column `column`.
    public func error(_ column: String, _ problem: String) -> ColumnValueError {
        ColumnValueError(table: table, key: key, column: column, problem: problem)
    }
}

extension QueryResult {
    /// The rows, each checked as it is read (see `CheckedRow`).
    public func checkedRows(table: String, keyColumn: Int = 0) -> [CheckedRow] {
        rows.map { CheckedRow(table: table, values: $0, keyColumn: keyColumn) }
    }

    /// The first row, checked; nil when there is none.
    public func firstChecked(table: String, keyColumn: Int = 0) -> CheckedRow? {
        rows.first.map { CheckedRow(table: table, values: $0, keyColumn: keyColumn) }
    }
}

/// The rows of a `COPY … TO STDOUT` (`PostgresConnection.copyOutRows`), one at a time. A
/// row is libpq's buffer, valid until the next call of `next`. Dropped before its end (an
/// error in the reading loop), it cancels the COPY and reads what is left, so that the
/// connection can be used again.
public struct CopyOutRows: ~Copyable {
    private let connection: PostgresConnection
    private let context: String?
    private var row: UnsafeMutablePointer<CChar>?
    private var ended = false

    fileprivate init(connection: PostgresConnection, context: String?) {
        self.connection = connection
        self.context = context
    }

    /// The next row, or nil after the last one; throws the server's error if the COPY failed.
    public mutating func next() throws -> UnsafeBufferPointer<UInt8>? {
        if let row { PQfreemem(row) }
        row = nil
        guard !ended else { return nil }
        let n = connection.nextCopyRow(&row)
        if n > 0, let row {
            return UnsafeBufferPointer(start: UnsafeMutableRawPointer(row).bindMemory(to: UInt8.self, capacity: Int(n)), count: Int(n))
        }
        ended = true
        if let failure = connection.endCopy(failed: n != -1, context: context) { throw failure }
        return nil
    }

    deinit {
        if let row { PQfreemem(row) }
        if !ended { connection.abandonCopy() }
    }
}
