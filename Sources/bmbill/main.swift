import BillingCommands

#if canImport(Glibc)
    import Glibc
#endif

BMBill.bootstrapLogging()
exit(BMBill.main(arguments: Array(CommandLine.arguments.dropFirst())))
