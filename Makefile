# bokeh-jax: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Transparent huge pages for malloc: XLA allocates fresh buffers on every call and page
# faults are a large part of its CPU time (see README, Benchmarks). Ignored where unsupported.
export GLIBC_TUNABLES ?= glibc.malloc.hugetlb=1

.PHONY: install test demo bench gallery ablation clean

# Re-installs only when pyproject.toml changed (editable install: code edits need nothing).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The main job on the embedded default: all three training phases on the synthetic
# dataset, evaluation against the baselines, renders of the sample photos.
demo: install
	$(VENV)/bin/bokeh-jax train --config demo --workdir runs/demo

gallery: install
	$(VENV)/bin/bokeh-jax gallery --out runs/gallery

bench: install
	$(PY) bench/bench_blur.py
	$(PY) bench/bench_megadepth.py
	$(PY) bench/bench_metrics.py
	$(PY) bench/bench_data.py
	$(PY) bench/bench_train.py
	$(PY) bench/bench_render.py
	$(PY) bench/bench_aperture.py

clean:
	rm -rf $(VENV) .cache runs

# The aperture ablation (the paper's future work): three demo-sized trainings, ~20 min on a
# 2-core CPU; the table lands in runs/ablation/results.md.
ablation: install
	$(PY) experiments/aperture_ablation.py
