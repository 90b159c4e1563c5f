# bmbill: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The demo database: a project-local PostgreSQL on a Unix socket, in .pg/ or, when the
# postgres user cannot enter the clone, in a folder of its own (scripts/pg where .pg).
PG_DIR  ?= $(CURDIR)/.pg
PG_PORT ?= 55432
DEMO_DB ?= bmbill_demo
# The test suite's own server, started and stopped by `make test` (same rule as .pg).
TEST_PG_DIR  ?= $(CURDIR)/.pg-test
TEST_PG_PORT ?= 55433
OUT ?= reports/out
SHARED ?= $(CURDIR)/../shared
SWIFT_BUILD_FLAGS ?=

RELEASE_BIN = .build/release/bmbill
DEBUG_BIN   = .build/debug/bmbill

.PHONY: help deps build demo test bench templates cli-docs db-up db-down db-env sql format contract fuzz focus-validator clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

deps: ## install PostgreSQL, libpq-dev, tzdata and the tests' tools (Chromium, pdftotext, promtool) when missing
	@scripts/install-deps

build: deps ## release build of bmbill
	swift build -c release $(SWIFT_BUILD_FLAGS)

sql: ## embed sql/ migrations into the binary (after editing sql/)
	scripts/embed-sql

templates: ## embed reports/templates into the binary (after editing a template)
	scripts/embed-templates

cli-docs: ## regenerate docs/cli: the man page and bash/zsh/fish completions, from the parser
	swift build $(SWIFT_BUILD_FLAGS)
	swift package --allow-writing-to-package-directory generate-manual --configuration debug --date 2026-11-25 --authors "bmbill maintainers"
	mkdir -p docs/cli
	cp .build/plugins/GenerateManual/outputs/bmbill/bmbill.1 docs/cli/bmbill.1
	for sh in bash zsh fish; do $(DEBUG_BIN) --generate-completion-script $$sh > docs/cli/bmbill.$$sh; done

db-up: deps ## start the demo PostgreSQL (data in .pg/ or where 'scripts/pg where .pg' says)
	@scripts/pg up $(PG_DIR) $(PG_PORT)
	@eval "$$(scripts/pg env $(PG_DIR) $(PG_PORT))"; \
	  psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(DEMO_DB)'" | grep -q 1 \
	  || psql -X -q -d postgres -c "CREATE DATABASE $(DEMO_DB)"
	@echo "PostgreSQL is up: eval \"\$$(make -s db-env)\" to reach it with psql or bmbill"

db-env: ## print the PG* exports for the demo database
	@scripts/pg env $(PG_DIR) $(PG_PORT); echo "export PGDATABASE='$(DEMO_DB)'"

db-down: ## stop the demo PostgreSQL
	@scripts/pg down $(PG_DIR)
	@echo "PostgreSQL stopped (data kept in $$(scripts/pg where $(PG_DIR)); scripts/pg rm $(PG_DIR) to start afresh)"

demo: build db-up ## demo database, demo data, billing run; prints where the invoices are
	@eval "$$(scripts/pg env $(PG_DIR) $(PG_PORT))"; export PGDATABASE=$(DEMO_DB); \
	  $(RELEASE_BIN) migrate && \
	  $(RELEASE_BIN) demo-data --replace --projects 6 --instances 40 --months 4 --seed 42 && \
	  $(RELEASE_BIN) run --out $(OUT) && \
	  last=$$(TZ=Asia/Seoul date -d "$$(TZ=Asia/Seoul date +%Y-%m-01) -1 month" +%Y-%m) && \
	  $(RELEASE_BIN) export --period $$last --format focus --out $(OUT) && \
	  $(RELEASE_BIN) export --period $$last --format pdf --out $(OUT) && \
	  $(RELEASE_BIN) export --period $$(TZ=Asia/Seoul date +%Y-%m) --format html --out $(OUT)
	@echo "Invoices and reports: $(OUT)/<period>/ (usage.csv, invoice_lines.csv, summary.csv, anomalies.csv, credits.csv when credits apply,"
	@echo "  alerts.csv when budgets apply, invoices/*.json, manifest.json; for the last ended month also focus.csv and invoices/*.pdf; invoices/*.html for both)"
	@echo "The month-to-date drafts carry the forecast (\"if nothing changes\" above, 'forecast' in invoices/*.json, the drafts' HTML)."
	@echo "Database: eval \"\$$(make -s db-env)\"; psql -c 'select * from current_invoices'; psql -c 'select * from budget_alerts'"
	@echo "Stop the server with: make db-down"

focus-validator: ## install the FinOps FOCUS validator in .venv-focus (Python 3.12, PyPI)
	@scripts/focus-validate --install

test: deps focus-validator ## the whole test suite, against a PostgreSQL it starts and stops itself
	@scripts/pg up $(TEST_PG_DIR) $(TEST_PG_PORT)
	@eval "$$(scripts/pg env $(TEST_PG_DIR) $(TEST_PG_PORT))"; export PGDATABASE=postgres BMBILL_TEST_REQUIRE_DB=1; \
	  export BMBILL_FOCUS_VALIDATE=$(CURDIR)/scripts/focus-validate; \
	  status=0; \
	  mkdir -p .build; \
	  swift build $(SWIFT_BUILD_FLAGS) && swift test --disable-xctest $(SWIFT_BUILD_FLAGS) 2>&1 | tee .build/test.log || status=$$?; \
	  contract=skipped; pricing=skipped; \
	  if [ $$status -eq 0 ] && [ -x $(SHARED)/tools/check-contract ]; then \
	    psql -X -q -c "DROP DATABASE IF EXISTS bmbill_contract" -c "CREATE DATABASE bmbill_contract"; \
	    if PGDATABASE=bmbill_contract $(SHARED)/tools/check-contract $(DEBUG_BIN); then contract=passed; else contract=failed; status=1; fi; \
	    psql -X -q -c "DROP DATABASE IF EXISTS bmbill_contract_pricing" -c "CREATE DATABASE bmbill_contract_pricing"; \
	    if PGDATABASE=bmbill_contract_pricing $(SHARED)/tools/check-contract --pricing $(DEBUG_BIN); then pricing=passed; else pricing=failed; status=1; fi; \
	  fi; \
	  scripts/pg down $(TEST_PG_DIR); \
	  scripts/test-summary .build/test.log "$$contract" "$$pricing"; \
	  exit $$status

contract: build db-up ## run ../shared/tools/check-contract and its --pricing check on the release build (each in a fresh database)
	@eval "$$(scripts/pg env $(PG_DIR) $(PG_PORT))"; \
	  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS bmbill_contract" -c "CREATE DATABASE bmbill_contract" \
	    -c "DROP DATABASE IF EXISTS bmbill_contract_pricing" -c "CREATE DATABASE bmbill_contract_pricing" && \
	  PGDATABASE=bmbill_contract $(SHARED)/tools/check-contract $(RELEASE_BIN) && \
	  PGDATABASE=bmbill_contract_pricing $(SHARED)/tools/check-contract --pricing $(RELEASE_BIN)

bench: deps ## benchmark on generated data (100k instances, 10M changes); appends to BENCHMARKS.md
	scripts/bench

FUZZ_SECONDS ?= 60
FUZZ_TARGETS = FuzzParsers FuzzCSV FuzzArguments FuzzCopyRows
fuzz: ## build the libFuzzer targets (Fuzz/) and run each for FUZZ_SECONDS (default 60)
	mkdir -p .build-fuzz/link && ln -sfn $(CURDIR) .build-fuzz/link/bmbill
	cd Fuzz && swift build --scratch-path ../.build-fuzz -Xswiftc -sanitize=fuzzer
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t; \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  SWIFT_BACKTRACE=enable=no .build-fuzz/debug/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=.build-fuzz/ \
	    .build-fuzz/corpus/$$t Fuzz/corpus/$$t 2>&1 | grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY)" || exit 1; \
	done

format: ## format the sources with swift format
	swift format --in-place --recursive Sources Tests Package.swift

clean: ## remove builds, databases (wherever scripts/pg keeps them) and generated reports
	scripts/pg rm $(PG_DIR)
	scripts/pg rm $(TEST_PG_DIR)
	scripts/pg rm $(CURDIR)/.pg-bench
	rm -rf .build $(OUT)
