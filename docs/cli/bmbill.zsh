#compdef bmbill

__bmbill_complete() {
    local -ar non_empty_completions=("${@:#(|:*)}")
    local -ar empty_completions=("${(M)@:#(|:*)}")
    _describe -V '' non_empty_completions -- empty_completions -P $'\'\''
}

__bmbill_custom_complete() {
    local -a completions
    completions=("${(@f)"$("${command_name}" "${@}" "${command_line[@]}")"}")
    if [[ "${#completions[@]}" -gt 1 ]]; then
        __bmbill_complete "${completions[@]:0:-1}"
    fi
}

__bmbill_cursor_index_in_current_word() {
    if [[ -z "${QIPREFIX}${IPREFIX}${PREFIX}" ]]; then
        printf 0
    else
        printf %s "${#${(z)LBUFFER}[-1]}"
    fi
}

_bmbill() {
    emulate -RL zsh -G
    setopt extendedglob nullglob numericglobsort
    unsetopt aliases banghist

    local -xr SAP_SHELL=zsh
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(builtin emulate zsh -c 'printf %s "${ZSH_VERSION}"')"
    local -r SAP_SHELL_VERSION

    local context state state_descr line
    local -A opt_args

    local -r command_name="${words[1]}"
    local -ar command_line=("${words[@]}")
    local -ir current_word_index="$((CURRENT - 1))"

    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'migrate:Create or upgrade the schema (safe to run again).'
            'run:Bill a period: the cron job.'
            'recompute:Bill a period again from today'\''s data and correct issued invoices.'
            'work:Meter shards of a sharded run; start as many as you like, on any machines.'
            'export:Finance exports of a period, from the stored invoices.'
            'demo-data:Load realistic synthetic source data (deterministic per --seed and --until).'
            'help:Show subcommand help information.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        migrate|run|recompute|work|export|demo-data|help)
            "_bmbill_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_bmbill_migrate() {
    local -i ret=1
    local -ar arg_specs=(
        '--db[libpq connection string or postgresql\:// URI (env BMBILL_DB).]:conninfo:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_bmbill_run() {
    local -i ret=1
    local -ar ___by=('month' 'day')
    local -ar arg_specs=(
        '--period[Month to bill, YYYY-MM, in the billing time zone.]:YYYY-MM:'
        '--as-of[Bill as if it were this instant (ISO 8601, e.g. 2026-12-01T00\:00\:00Z); default now.]:instant:'
        '--adjust[Also issue correcting revisions where today'\''s data changes an issued invoice.]'
        '--shards[Split each period into this many shards of the instances, metered by worker processes (1-4096).]:N:'
        '--workers[Local '\''bmbill work'\'' processes for --shards (default\: the number of cores; 0\: only workers started elsewhere, and the run itself).]:K:'
        '--out[Output root; files go under <out>/<period>/ (default reports/out; env BMBILL_OUT).]:dir:'
        '--json[Print a machine-readable JSON summary on stdout instead of the table.]'
        '--by[usage.csv rows per month, or per day as well.]:month|day:{__bmbill_complete "${___by[@]}"}'
        '--metrics-file[Write Prometheus textfile-collector metrics here (env BMBILL_METRICS_FILE).]:path:'
        '--timezone[IANA billing time zone (default Asia/Seoul; env BMBILL_TIMEZONE).]:zone:'
        '--currency[Billing currency, ISO 4217 (default KRW; env BMBILL_CURRENCY).]:code:'
        '--vat-rate[VAT as a decimal fraction (default 0.10; env BMBILL_VAT_RATE).]:rate:'
        '--rounding[half-up (default), half-even or floor (env BMBILL_ROUNDING).]:mode:'
        '--granularity[second (default), minute or hour (env BMBILL_GRANULARITY).]:unit:'
        '--config[Config file of '\''key = value'\'' lines (keys\: timezone, currency, vat_rate, rounding, granularity, out; env BMBILL_CONFIG).]:path:'
        '--db[libpq connection string or postgresql\:// URI (env BMBILL_DB).]:conninfo:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_bmbill_recompute() {
    local -i ret=1
    local -ar ___by=('month' 'day')
    local -ar arg_specs=(
        '--period[Month to recompute, YYYY-MM.]:YYYY-MM:'
        '*--project[Only this project (repeatable).]:id:'
        '--dry-run[Show what would change; write nothing.]'
        '--as-of[Recompute as if it were this instant (ISO 8601); default now.]:instant:'
        '--out[Output root; files go under <out>/<period>/ (default reports/out; env BMBILL_OUT).]:dir:'
        '--json[Print a machine-readable JSON summary on stdout instead of the table.]'
        '--by[usage.csv rows per month, or per day as well.]:month|day:{__bmbill_complete "${___by[@]}"}'
        '--metrics-file[Write Prometheus textfile-collector metrics here (env BMBILL_METRICS_FILE).]:path:'
        '--timezone[IANA billing time zone (default Asia/Seoul; env BMBILL_TIMEZONE).]:zone:'
        '--currency[Billing currency, ISO 4217 (default KRW; env BMBILL_CURRENCY).]:code:'
        '--vat-rate[VAT as a decimal fraction (default 0.10; env BMBILL_VAT_RATE).]:rate:'
        '--rounding[half-up (default), half-even or floor (env BMBILL_ROUNDING).]:mode:'
        '--granularity[second (default), minute or hour (env BMBILL_GRANULARITY).]:unit:'
        '--config[Config file of '\''key = value'\'' lines (keys\: timezone, currency, vat_rate, rounding, granularity, out; env BMBILL_CONFIG).]:path:'
        '--db[libpq connection string or postgresql\:// URI (env BMBILL_DB).]:conninfo:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_bmbill_work() {
    local -i ret=1
    local -ar arg_specs=(
        '--period[The month whose shards to meter, YYYY-MM.]:YYYY-MM:'
        '--db[libpq connection string or postgresql\:// URI (env BMBILL_DB).]:conninfo:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_bmbill_export() {
    local -i ret=1
    local -ar ___format=('focus' 'summary' 'invoices' 'html' 'pdf')
    local -ar arg_specs=(
        '--period[Month to export, YYYY-MM.]:YYYY-MM:'
        '--format[What to export (see Formats above).]:format:{__bmbill_complete "${___format[@]}"}'
        '--out[Output root (default reports/out; env BMBILL_OUT).]:dir:'
        '--currency[Billing currency of the invoices to export (default KRW; env BMBILL_CURRENCY).]:code:'
        '--issuer[Name of the provider and invoice issuer in FOCUS files.]:name:'
        '--db[libpq connection string or postgresql\:// URI (env BMBILL_DB).]:conninfo:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_bmbill_demo-data() {
    local -i ret=1
    local -ar arg_specs=(
        '--projects[Number of projects.]:projects:'
        '--instances[Number of instances.]:instances:'
        '--months[Months of history up to --until.]:months:'
        '--seed[Random seed\: the same seed and --until give the same rows.]:seed:'
        '--until[Last instant of the data (ISO 8601); default now, to the hour.]:instant:'
        '--replace[Empty the source and output tables first (demo databases only).]'
        '--no-pricing[Load no discounts, monthly caps or credits (invoices at list price).]'
        '--no-budgets[Load no budgets (no budget alerts).]'
        '--timezone[IANA zone the months are counted in.]:zone:'
        '--db[libpq connection string or postgresql\:// URI (env BMBILL_DB).]:conninfo:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_bmbill_help() {
    local -i ret=1
    local -ar arg_specs=(
        '*:subcommands:'
        '--version[Show the version.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

if [[ "${funcstack[1]}" = _bmbill ]]; then
    _bmbill "${@}"
else
    compdef _bmbill bmbill
fi
