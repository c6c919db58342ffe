# bokeh-jax: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Transparent huge pages for malloc: XLA allocates fresh buffers on every call and page
# faults are a large part of its CPU time (see README, Benchmarks). Ignored where unsupported.
export GLIBC_TUNABLES ?= glibc.malloc.hugetlb=1

.PHONY: install browser test demo bench gallery ablation clean

# Re-installs only when pyproject.toml changed (editable install: code edits need nothing).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,app]'
	touch $(STAMP)

install: $(STAMP)

# The app's browser tests (pytest -m browser) drive Debian's Chromium: installed here when
# missing and we are root with apt (CI); elsewhere the tests skip and say how to install it.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && \
	        apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; }; } || \
	  echo "note: chromium + chromium-driver not installed; the browser tests will skip"

test: install browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n auto --dist loadfile

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
	$(PY) bench/bench_app.py

clean:
	rm -rf $(VENV) .cache runs

# The aperture ablation (the paper's future work): three demo-sized trainings, ~20 min on a
# 2-core CPU; the table lands in runs/ablation/results.md.
ablation: install
	$(PY) experiments/aperture_ablation.py
