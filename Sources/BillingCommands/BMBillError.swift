import ArgumentParser

/// The exit codes of the data contract.
public enum ExitStatus {
    public static let success: Int32 = 0
    public static let failure: Int32 = 1
    public static let usage: Int32 = 2
    /// Data errors kept invoices from being issued (sysexits EX_DATAERR).
    public static let dataErrors: Int32 = 65
    /// Another run holds the period's lock; try later (sysexits EX_TEMPFAIL).
    public static let locked: Int32 = 75
}

/// An error a command reports to its user, with the exit code it maps to.
public enum BMBillError: Error, CustomStringConvertible {
    /// The command line or a setting is wrong: exit 2.
    case usage(String)
    /// Data errors kept a period's invoices from being issued: exit 65.
    case dataErrors(String)
    /// Another run holds the period's lock: exit 75.
    case locked(String)
    /// Anything else that stopped the job: exit 1.
    case failure(String)

    public var exitCode: Int32 {
        switch self {
        case .usage: return ExitStatus.usage
        case .dataErrors: return ExitStatus.dataErrors
        case .locked: return ExitStatus.locked
        case .failure: return ExitStatus.failure
        }
    }

    public var description: String {
        switch self {
        case .usage(let m), .dataErrors(let m), .locked(let m), .failure(let m): return m
        }
    }
}
