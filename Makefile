# polykfunc: `make prove` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: prove test bench bench-report setup clean corpus checker bpf-objects kernel-6.12 kernel-newest bench-import

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

## kernel-6.12: fetch Debian's linux-source-6.12 (apt), import it into model/bundled/kernel/v6.12,
## and check that sched_ext@v6.12 agrees with it (exit 1 on an unexplained difference)
KERNEL_SRC ?= /work/kernel-src
KTREE       = $(KERNEL_SRC)/linux-source-6.12
kernel-6.12: $(STAMP)
	test -f /usr/src/linux-source-6.12.tar.xz || { apt-get update -qq && apt-get install -y linux-source-6.12; }
	test -d $(KTREE) || { mkdir -p $(KERNEL_SRC) && tar -xJf /usr/src/linux-source-6.12.tar.xz -C $(KERNEL_SRC); }
	$(BIN)/polykfunc import-kernel $(KTREE) -o model/bundled/kernel/v6.12 --regenerate "make kernel-6.12" \
	  --label "Debian linux-source-6.12 $$(dpkg-query -W -f='$${Version}' linux-source-6.12)"
	$(BIN)/polykfunc drift sched_ext@v6.12 $(KTREE) --explained model/bundled/kernel/v6.12/explained-drift.txt

## kernel-newest: regenerate model/bundled/kernel/newest from the partial tree of excerpts of torvalds/linux
## d023aa69c3b5 in $(KERNEL_SRC)/newest-partial (model/bundled/kernel/newest/provenance.json says which
## files, commits and chars; fetch them with the search tool's read_file, see docs/kernel-import.md)
NEWEST_TREE = $(KERNEL_SRC)/newest-partial
kernel-newest: $(STAMP)
	@test -d $(NEWEST_TREE) || { echo "no $(NEWEST_TREE): fetch the files model/bundled/kernel/newest/provenance.json lists (docs/kernel-import.md, 'The newest trees')" >&2; exit 2; }
	$(BIN)/polykfunc import-kernel $(NEWEST_TREE) -o model/bundled/kernel/newest --kernel newest \
	  --provenance model/bundled/kernel/newest/provenance.json --regenerate "make kernel-newest" \
	  --commit d023aa69c3b5f22a442fb67a37f17b04602eb43f \
	  --label "torvalds/linux d023aa69c3b5 (partial: 1 file, excerpts; see provenance.json)"

## bench-import: time import-kernel on the Debian 6.12 tree (docs/performance.md)
bench-import: $(STAMP)
	$(BIN)/python bench/bench_import.py $(KTREE)

## bpf-objects: rebuild the committed objects of every tests/bpf/*.bpf.c (needs clang; tests/bpf/README.md)
bpf-objects: $(STAMP)
	$(BIN)/python tests/bpf_build.py
