function __bmbill_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __bmbill_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __bmbill_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __bmbill_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __bmbill_parse_tokens -S
    set -l unparsed_tokens (__bmbill_tokens -pc)
    switch $unparsed_tokens[1]
    case 'bmbill'
        __bmbill_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'migrate'
            __bmbill_parse_subcommand 0 'db=' 'version' 'h/help'
        case 'run'
            __bmbill_parse_subcommand 0 'period=' 'as-of=' 'adjust' 'shards=' 'workers=' 'out=' 'json' 'by=' 'metrics-file=' 'timezone=' 'currency=' 'vat-rate=' 'rounding=' 'granularity=' 'config=' 'db=' 'version' 'h/help'
        case 'recompute'
            __bmbill_parse_subcommand 0 'period=' 'project=+' 'dry-run' 'as-of=' 'out=' 'json' 'by=' 'metrics-file=' 'timezone=' 'currency=' 'vat-rate=' 'rounding=' 'granularity=' 'config=' 'db=' 'version' 'h/help'
        case 'work'
            __bmbill_parse_subcommand 0 'period=' 'db=' 'version' 'h/help'
        case 'export'
            __bmbill_parse_subcommand 0 'period=' 'format=' 'out=' 'currency=' 'issuer=' 'db=' 'version' 'h/help'
        case 'demo-data'
            __bmbill_parse_subcommand 0 'projects=' 'instances=' 'months=' 'seed=' 'until=' 'replace' 'no-pricing' 'no-budgets' 'timezone=' 'db=' 'version' 'h/help'
        case 'help'
            __bmbill_parse_subcommand -r 1 'version'
        end
    end
end

function __bmbill_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __bmbill_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __bmbill_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __bmbill_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__bmbill_tokens -p)
    if test -z "$(__bmbill_tokens -t)"
        set -l index (count (__bmbill_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'bmbill' -f
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill" version' -l 'version' -d 'Show the version.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_positional "bmbill" -eq 1' -fa 'migrate' -d 'Create or upgrade the schema (safe to run again).'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_positional "bmbill" -eq 1' -fa 'run' -d 'Bill a period: the cron job.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_positional "bmbill" -eq 1' -fa 'recompute' -d 'Bill a period again from today\'s data and correct issued invoices.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_positional "bmbill" -eq 1' -fa 'work' -d 'Meter shards of a sharded run; start as many as you like, on any machines.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_positional "bmbill" -eq 1' -fa 'export' -d 'Finance exports of a period, from the stored invoices.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_positional "bmbill" -eq 1' -fa 'demo-data' -d 'Load realistic synthetic source data (deterministic per --seed and --until).'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_positional "bmbill" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill migrate" db' -l 'db' -d 'libpq connection string or postgresql:// URI (env BMBILL_DB).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill migrate" version' -l 'version' -d 'Show the version.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill migrate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" period' -l 'period' -d 'Month to bill, YYYY-MM, in the billing time zone.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" as-of' -l 'as-of' -d 'Bill as if it were this instant (ISO 8601, e.g. 2026-12-01T00:00:00Z); default now.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" adjust' -l 'adjust' -d 'Also issue correcting revisions where today\'s data changes an issued invoice.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" shards' -l 'shards' -d 'Split each period into this many shards of the instances, metered by worker processes (1-4096).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" workers' -l 'workers' -d 'Local \'bmbill work\' processes for --shards (default: the number of cores; 0: only workers started elsewhere, and the run itself).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" out' -l 'out' -d 'Output root; files go under <out>/<period>/ (default reports/out; env BMBILL_OUT).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" json' -l 'json' -d 'Print a machine-readable JSON summary on stdout instead of the table.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" by' -l 'by' -d 'usage.csv rows per month, or per day as well.' -rfka 'month day'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" metrics-file' -l 'metrics-file' -d 'Write Prometheus textfile-collector metrics here (env BMBILL_METRICS_FILE).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" timezone' -l 'timezone' -d 'IANA billing time zone (default Asia/Seoul; env BMBILL_TIMEZONE).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" currency' -l 'currency' -d 'Billing currency, ISO 4217 (default KRW; env BMBILL_CURRENCY).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" vat-rate' -l 'vat-rate' -d 'VAT as a decimal fraction (default 0.10; env BMBILL_VAT_RATE).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" rounding' -l 'rounding' -d 'half-up (default), half-even or floor (env BMBILL_ROUNDING).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" granularity' -l 'granularity' -d 'second (default), minute or hour (env BMBILL_GRANULARITY).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" config' -l 'config' -d 'Config file of \'key = value\' lines (keys: timezone, currency, vat_rate, rounding, granularity, out; env BMBILL_CONFIG).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" db' -l 'db' -d 'libpq connection string or postgresql:// URI (env BMBILL_DB).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" version' -l 'version' -d 'Show the version.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill run" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" period' -l 'period' -d 'Month to recompute, YYYY-MM.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute"' -l 'project' -d 'Only this project (repeatable).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" dry-run' -l 'dry-run' -d 'Show what would change; write nothing.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" as-of' -l 'as-of' -d 'Recompute as if it were this instant (ISO 8601); default now.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" out' -l 'out' -d 'Output root; files go under <out>/<period>/ (default reports/out; env BMBILL_OUT).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" json' -l 'json' -d 'Print a machine-readable JSON summary on stdout instead of the table.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" by' -l 'by' -d 'usage.csv rows per month, or per day as well.' -rfka 'month day'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" metrics-file' -l 'metrics-file' -d 'Write Prometheus textfile-collector metrics here (env BMBILL_METRICS_FILE).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" timezone' -l 'timezone' -d 'IANA billing time zone (default Asia/Seoul; env BMBILL_TIMEZONE).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" currency' -l 'currency' -d 'Billing currency, ISO 4217 (default KRW; env BMBILL_CURRENCY).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" vat-rate' -l 'vat-rate' -d 'VAT as a decimal fraction (default 0.10; env BMBILL_VAT_RATE).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" rounding' -l 'rounding' -d 'half-up (default), half-even or floor (env BMBILL_ROUNDING).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" granularity' -l 'granularity' -d 'second (default), minute or hour (env BMBILL_GRANULARITY).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" config' -l 'config' -d 'Config file of \'key = value\' lines (keys: timezone, currency, vat_rate, rounding, granularity, out; env BMBILL_CONFIG).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" db' -l 'db' -d 'libpq connection string or postgresql:// URI (env BMBILL_DB).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" version' -l 'version' -d 'Show the version.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill recompute" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill work" period' -l 'period' -d 'The month whose shards to meter, YYYY-MM.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill work" db' -l 'db' -d 'libpq connection string or postgresql:// URI (env BMBILL_DB).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill work" version' -l 'version' -d 'Show the version.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill work" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill export" period' -l 'period' -d 'Month to export, YYYY-MM.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill export" format' -l 'format' -d 'What to export (see Formats above).' -rfka 'focus summary invoices html pdf'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill export" out' -l 'out' -d 'Output root (default reports/out; env BMBILL_OUT).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill export" currency' -l 'currency' -d 'Billing currency of the invoices to export (default KRW; env BMBILL_CURRENCY).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill export" issuer' -l 'issuer' -d 'Name of the provider and invoice issuer in FOCUS files.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill export" db' -l 'db' -d 'libpq connection string or postgresql:// URI (env BMBILL_DB).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill export" version' -l 'version' -d 'Show the version.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill export" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" projects' -l 'projects' -d 'Number of projects.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" instances' -l 'instances' -d 'Number of instances.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" months' -l 'months' -d 'Months of history up to --until.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" seed' -l 'seed' -d 'Random seed: the same seed and --until give the same rows.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" until' -l 'until' -d 'Last instant of the data (ISO 8601); default now, to the hour.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" replace' -l 'replace' -d 'Empty the source and output tables first (demo databases only).'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" no-pricing' -l 'no-pricing' -d 'Load no discounts, monthly caps or credits (invoices at list price).'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" no-budgets' -l 'no-budgets' -d 'Load no budgets (no budget alerts).'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" timezone' -l 'timezone' -d 'IANA zone the months are counted in.' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" db' -l 'db' -d 'libpq connection string or postgresql:// URI (env BMBILL_DB).' -rfka ''
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" version' -l 'version' -d 'Show the version.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill demo-data" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'bmbill' -n '__bmbill_should_offer_completions_for_flags_or_options "bmbill help" version' -l 'version' -d 'Show the version.'
