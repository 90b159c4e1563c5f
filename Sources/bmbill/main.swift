import BillingCommands

#if canImport(Glibc)
    import Glibc
#endif

if let status = BMBill.bootstrapLogging() { exit(status) }
exit(BMBill.main(arguments: Array(CommandLine.arguments.dropFirst())))
