# cloudbench: make test (install + pytest), make demo (the whole chain offline), make bench.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install test test-all demo bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# the pinned torch first, so that the train extra finds it installed and fetches no other build
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

# the fast suite (what CI runs); test-all adds the tests marked slow: full-resolution truth tests,
# whole demos and chains, which take several minutes each on two cores
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

test-all: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(VENV)/bin/cloudbench demo --out demo-out

bench: $(STAMP)
	$(PY) -m benchmarks.run_all --out benchmarks/results
	$(PY) -m benchmarks.report

lint: $(STAMP)
	$(VENV)/bin/ruff check cloudbench tests benchmarks

clean:
	rm -rf demo-out .pytest_cache
