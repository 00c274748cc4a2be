# dicom-bridge: make demo | make test | make bench
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-quick samples clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: install, convert sample_dicom/ into out/, validate what was written, print a summary
demo: $(STAMP)
	rm -rf out
	$(BIN)/dicom-bridge convert sample_dicom --out out
	$(BIN)/dicom-bridge validate --no-warnings $$(find out -name 'report-*.json' | sort)
	@echo
	@echo "Output in out/: per study ImagingStudy.json, Patient.json and report-<SR UID>.json (document Bundle)"

## test: the architecture contracts, the linter and the whole test suite
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check bridge tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bridge tests bench
	$(BIN)/lint-imports

## samples: regenerate sample_dicom/ (byte-identical to the committed files)
samples: $(STAMP)
	$(BIN)/dicom-bridge samples sample_dicom

## bench: conversion throughput and memory against peers, in the same run
bench: $(STAMP)
	$(BIN)/python bench/convert_bench.py

bench-quick: $(STAMP)
	$(BIN)/python bench/convert_bench.py --quick

clean:
	rm -rf out .pytest_cache bench/.work
