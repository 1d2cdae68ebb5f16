# The two commands of the README: `make book` and `make test`. Each sets itself up.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PRESET  ?= cpu
STAMP   := $(VENV)/.latentsep-installed

.PHONY: book test lint bench sweep colab setup clean-book

# The book's Performance page shows the benchmarks' results: measured first if missing.
BENCH_RESULT := benchmarks/results/separation-$(PRESET).json

# make book REAL_STEMS=DIR: the results chapter also scores every method on real stems;
# make book RETRAIN=1: every trained artifact made here, none taken from shipped/.
BOOK_ARGS := $(if $(REAL_STEMS),--real-stems $(REAL_STEMS)) $(if $(RETRAIN),--retrain)
export LATENTSEP_RETRAIN := $(if $(RETRAIN),1)

book: $(STAMP) $(BENCH_RESULT)
	$(PY) -m latentsep book --preset $(PRESET) $(BOOK_ARGS)

$(BENCH_RESULT): | $(STAMP)
	$(PY) benchmarks/run_all.py --preset $(PRESET)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks experiments scripts

bench: $(STAMP)
	$(PY) benchmarks/run_all.py --preset $(PRESET)

# A papermill batch: chapter 04 over the latent type and the seed (see README).
SWEEP_NOTEBOOK ?= 04_clustering
SWEEP_GRID ?= --grid 'model_variant=[{}, {"model.latent": "vae"}]' --grid 'seed=[0, 1]'
# make sweep SCHEDULER=tcp://host:8786 (or local:4): each run a task on a Dask cluster
sweep: $(STAMP)
	$(PY) -m latentsep sweep $(SWEEP_NOTEBOOK) --preset $(PRESET) $(SWEEP_GRID) --out sweeps/$(PRESET) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

colab: $(STAMP)
	$(PY) -m latentsep colab

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt requirements/no-deps.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

clean-book:
	rm -rf book/_build book/chapters
