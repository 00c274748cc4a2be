# dicom-bridge: make demo | make test | make bench
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run convert test lint bench bench-quick samples clean fuzz reliability

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: install, start `dicom-bridge serve`, C-STORE sample_dicom/ to it, wait for the seal, validate, stop
demo: $(STAMP)
	rm -rf out var/demo
	@set -e; \
	$(BIN)/dicom-bridge -v serve --config config/demo.toml & pid=$$!; \
	trap 'kill -TERM $$pid 2>/dev/null; wait $$pid' EXIT; \
	$(BIN)/dicom-bridge send sample_dicom --port 11113 --aet DEMO_SCU --wait 30; \
	$(BIN)/dicom-bridge status --config config/demo.toml --wait-idle 60; \
	$(BIN)/dicom-bridge validate --no-warnings $$(find out -name 'report-*.json' | sort); \
	echo; echo "Output in out/: per study ImagingStudy.json, Patient.json, report-<SR UID>.json (document Bundle), DocumentReference-*.json, manifest.dcm (MADO KOS) and manifest-fhir.json"

## run: the service with config/bridge.toml (listener on 127.0.0.1:11112, inboxes as configured); Ctrl-C stops it
run: $(STAMP)
	$(BIN)/dicom-bridge -v serve --config config/bridge.toml

## convert: the one-shot path, no service: convert sample_dicom/ into out/
convert: $(STAMP)
	rm -rf out
	$(BIN)/dicom-bridge convert sample_dicom --out out

## test: the architecture contracts, the linter and the whole test suite
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check bridge tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bridge tests bench
	$(BIN)/lint-imports

## reliability: two nodes under kill -9, FHIR faults, a PostgreSQL restart and a full disk; checks nothing
## acknowledged is lost, each revision is delivered once, dead letters replay; prints figures
## (RELIABILITY_SECONDS / RELIABILITY_SEED; the short form runs in `make test`)
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability.suite $(if $(RELIABILITY_SECONDS),--seconds $(RELIABILITY_SECONDS)) $(if $(RELIABILITY_SEED),--seed $(RELIABILITY_SEED))

## fuzz: the atheris fuzz target over the parsing entry points (FUZZ_SECONDS, default 60; FUZZ_RUNS instead: that
## many inputs, the same on every machine; FUZZ_SEED, default 1); a crash input is replayed with
## `.venv/bin/python tests/fuzz/fuzz_read.py <crash-file>`
FUZZ_SECONDS ?= 60
FUZZ_SEED ?= 1
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/run.py --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED) $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS))

## samples: regenerate sample_dicom/ (byte-identical to the committed files)
samples: $(STAMP)
	$(BIN)/dicom-bridge samples sample_dicom

## bench: conversion and listener throughput and memory against peers (dicom2fhir; DCMTK storescp, Orthanc),
## 1 vs 4 concurrent associations, end-to-end latency and memory for 100/1,000/10,000-instance studies (Orthanc
## as the peer), and delivery to a FHIR server against a bare HTTP sender, each in the same run as its peers
bench: $(STAMP)
	$(BIN)/python bench/convert_bench.py
	$(BIN)/python bench/listen_bench.py
	$(BIN)/python bench/ingest_bench.py
	$(BIN)/python bench/latency_bench.py
	$(BIN)/python bench/delivery_bench.py

bench-quick: $(STAMP)
	$(BIN)/python bench/convert_bench.py --quick
	$(BIN)/python bench/listen_bench.py --quick
	$(BIN)/python bench/ingest_bench.py --quick
	$(BIN)/python bench/latency_bench.py --quick
	$(BIN)/python bench/delivery_bench.py --quick

clean:
	rm -rf out var .pytest_cache bench/.work
