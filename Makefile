# polykfunc: `make prove` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: prove test bench bench-report setup clean corpus checker bpf-objects

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## prove: prove every bundled model (exit 0: all as expected)
prove: $(STAMP)
	$(BIN)/polykfunc prove

## test: the whole test suite (pytest's "no tests ran", exit 5, is a failure)
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

## bench: timing of prove on the bundled and synthetic models (writes bench/results.json)
bench: $(STAMP)
	$(BIN)/python bench/bench_prove.py

## bench-report: timing of `report` on the three sched_ext versions (writes bench/report_results.json)
bench-report: $(STAMP)
	$(BIN)/python bench/bench_report.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis

## checker: the long runs of docs/fuzzing.md (z3 against enumeration; mutation score)
checker: $(STAMP)
	$(BIN)/python bench/agreement.py --random 10000
	$(BIN)/python bench/mutation.py

## corpus: rebuild counterexamples/ (one entry per known bug) after an intended model change
corpus: $(STAMP)
	$(BIN)/python -c "from polykfunc.counterexamples.regression import build_corpus; print(build_corpus())"

## bpf-objects: rebuild the committed objects of every tests/bpf/*.bpf.c (needs clang; tests/bpf/README.md)
bpf-objects: $(STAMP)
	$(BIN)/python tests/bpf_build.py
