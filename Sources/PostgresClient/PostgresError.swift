import CLibPQ

/// A failure talking to PostgreSQL, with what the server said about it.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What step failed.
    public enum Code: String, Sendable {
        /// The connection could not be opened (bad host, refused, authentication failed).
        case connection
        /// A statement failed; `sqlState` says why.
        case query
        /// A COPY into or out of the server failed.
        case copy
        /// The connection broke in the middle of an operation.
        case connectionLost
    }

    public let code: Code
    /// The SQLSTATE from the server (`42P01` undefined table), when one came.
    public let sqlState: SQLState?
    /// The server's primary message, or libpq's.
    public let message: String
    public let detail: String?
    public let hint: String?
    /// What bmbill was doing: a short label, never the text of a parameter (no secrets).
    public let context: String?

    public init(code: Code, sqlState: SQLState? = nil, message: String, detail: String? = nil, hint: String? = nil, context: String? = nil) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.context = context
    }

    public var description: String {
        var s = "PostgreSQL \(code.rawValue) error"
        if let context { s += " while \(context)" }
        if let sqlState { s += " [SQLSTATE \(sqlState.rawValue)]" }
        s += ": \(message)"
        if let detail { s += " (detail: \(detail))" }
        if let hint { s += " (hint: \(hint))" }
        return s
    }

    /// Builds the error from a failed result (or from the connection when there is none).
    static func from(result: OpaquePointer?, connection: OpaquePointer?, code: Code, context: String?) -> PostgresError {
        func field(_ f: UInt8) -> String? {
            guard let result, let p = PQresultErrorField(result, Int32(f)) else { return nil }
            return String(cString: p)
        }
        let sqlState = field(UInt8(ascii: "C")).map(SQLState.init(rawValue:))
        var message = field(UInt8(ascii: "M"))
        if message == nil, let result, let p = PQresultErrorMessage(result) { message = String(cString: p) }
        if message == nil || message!.isEmpty, let connection, let p = PQerrorMessage(connection) { message = String(cString: p) }
        let text = (message ?? "unknown error").trimmingCharacters(in: " \n")
        let lost = connection.map { PQstatus($0) == CONNECTION_BAD } ?? false
        return PostgresError(code: lost ? .connectionLost : code, sqlState: sqlState, message: text, detail: field(UInt8(ascii: "D")),
                             hint: field(UInt8(ascii: "H")), context: context)
    }
}

/// A five-character SQLSTATE (PostgreSQL's appendix A), with the ones bmbill acts on or
/// tests for by name.
public struct SQLState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The class: the first two characters (`23` integrity constraint violation).
    public var errorClass: String { String(rawValue.prefix(2)) }
    public var description: String { rawValue }

    public static let uniqueViolation = SQLState(rawValue: "23505")
    public static let checkViolation = SQLState(rawValue: "23514")
    public static let insufficientPrivilege = SQLState(rawValue: "42501")
    public static let undefinedTable = SQLState(rawValue: "42P01")
    public static let undefinedFunction = SQLState(rawValue: "42883")
    public static let queryCanceled = SQLState(rawValue: "57014")
    public static let adminShutdown = SQLState(rawValue: "57P01")
    public static let raiseException = SQLState(rawValue: "P0001")
    /// Class 22: a value out of range or of the wrong form.
    public var isDataException: Bool { errorClass == "22" }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
