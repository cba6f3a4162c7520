# Orgbase — see README.md. `make run` and `make test` need only Go.
GO      ?= go
BIN     := bin/orgbase
PKGS    := ./...
TESTFLAGS ?=

.PHONY: run build test check generate assets css vendor fmt vet lint clean bench bench-charges bench-overspend fuzz harness

## run: build and start the server on the embedded SQLite default with demo data
## (the demo organization and 90 days of its usage, seeded once)
run: build
	$(BIN) seed --demo --if-empty
	$(BIN) serve

## build: compile the binary (templ output and CSS are committed, so no Node needed)
build:
	$(GO) build -o $(BIN) ./cmd/orgbase

## test: the whole suite; PostgreSQL tests need TEST_DATABASE_URL, browser tests need chromium
## (TESTFLAGS=-v shows each test; CI uses it)
test:
	$(GO) test -count=1 -timeout 20m $(TESTFLAGS) $(PKGS)

## bench-charges: charges/s through the HTTP API beside pgbench tpcb-like (needs TEST_DATABASE_URL, pgbench)
bench-charges:
	$(GO) test ./bench/ -run '^$$' -bench ChargeAPI -benchtime=1x -timeout 30m

## bench-overspend: the no-overspend test at full size: 10,000 charges, 300 clients, 3 instances
bench-overspend:
	OVERSPEND_CHARGES=10000 OVERSPEND_CLIENTS=300 $(GO) test ./cmd/orgbase/ -run TestNoOverspend -count=1 -v -timeout 30m

## harness: the full reliability run (docs/RELIABILITY.md): three replicas behind a proxy under
## fixed-rate load; 10 SIGTERMs, 100 kill -9s and 4 restarts of a private PostgreSQL cluster;
## then every acknowledged charge is checked against the database (about 5 minutes; needs
## PostgreSQL's server binaries). The report is printed and kept in bin/harness-report.md.
HARNESSFLAGS ?=
harness:
	@mkdir -p bin
	$(GO) run ./bench/harness/cmd/harness -out bin/harness-report.md $(HARNESSFLAGS)

## fuzz: run every fuzz target for FUZZTIME each (go test takes one target per run; CI uses 30s).
## The seeds (f.Add and testdata/fuzz/<target>) also run in `make test`. A target missing here fails the run.
## .ci/fuzz-retry reruns a target only when Go 1.26's fuzztime race failed it with no failing input.
## FUZZFLAGS bounds the minimizing of each new input: with go test's 60s, FuzzCSVExport spent 24 s of
## a 30 s run shrinking one 15 KB input (3,500 inputs run); with 5s it ran 14,000.
FUZZTIME ?= 30s
FUZZFLAGS ?= -fuzzminimizetime 5s
fuzz:
	@missing=$$(grep -rhoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' cmd internal | sed 's/^func //' | \
		while read -r f; do grep -q "'^$$f\$$\$$'" Makefile || echo "$$f"; done); \
		if [ -n "$$missing" ]; then echo "fuzz targets missing from the Makefile's fuzz rule:" $$missing; exit 1; fi
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzParseCredits$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzCleanText$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzNormalizeEmail$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzParseEmailList$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzSlug$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzCheckPassword$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzParseAlertThresholds$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzParseMoney$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzDayRange$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzInvoiceNumber$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzLooksLikeAPIKey$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzRoles$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/orgbase/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzDecodeUsage$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzAPIUsageQuery$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzBearerSecret$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzHistoryQuery$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzParseLimit$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzAlertSettingsForm$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzAutoRechargeForm$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzInviteForm$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzAuditFilter$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzOverviewRange$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzMemberListQuery$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzSafeNext$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzCSVExport$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzCheckLogo$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/web/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzParseWebhook$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/billing/stripe/
	.ci/fuzz-retry $(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/billing/testprovider/

## generate: regenerate templ components
generate:
	$(GO) tool templ generate -path views

## assets: reinstall front-end packages, vendor them and rebuild the CSS (needs Node)
assets: vendor css

vendor:
	npm ci --no-audit --no-fund
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js
	cp node_modules/@fontsource-variable/inter/files/inter-latin-wght-normal.woff2 static/fonts/
	cp node_modules/@fontsource-variable/inter/files/inter-latin-ext-wght-normal.woff2 static/fonts/
	cp node_modules/axe-core/axe.min.js cmd/orgbase/testdata/axe.min.js # the accessibility test's (a11y_e2e_test.go)

css:
	node_modules/.bin/tailwindcss -c tailwind.config.js -i static/src/app.css -o static/css/app.css --minify

## check: fail when generated templ code or the built CSS is stale, or vet complains
check:
	$(GO) vet $(PKGS)
	$(GO) tool templ generate -path views
	@set -e; if command -v npm >/dev/null; then \
		[ -d node_modules ] || npm ci --no-audit --no-fund; \
		node_modules/.bin/tailwindcss -c tailwind.config.js -i static/src/app.css -o static/css/app.css --minify; \
	elif [ "$$CI" = true ]; then echo "npm not found: CI must check the built CSS"; exit 1; \
	else echo "npm not found: skipping the CSS freshness check"; fi
	@git diff --exit-code --stat -- views static/css || { echo "generated files are stale: run 'make generate css' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- views static/css)" || { git status --porcelain -- views static/css; echo "untracked generated files: commit them"; exit 1; }

fmt:
	gofmt -w cmd internal views migrations static

clean:
	rm -rf bin
