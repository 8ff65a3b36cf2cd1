# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   the end-to-end loop in simulation (collect, label, fine-tune, evaluate)
#   make test   the test suite
PYTHON ?= python3
VENV   ?= .venv
# Extras installed into the venv; CI adds 'cluster' (Ray) so the Ray tests run.
EXTRAS ?= dev
PY     := $(VENV)/bin/python

.PHONY: venv demo test test-fast bench clean

venv: $(VENV)/.installed

# torch is pinned to the CPU build first so that the range in pyproject.toml
# never pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

demo: venv
	$(VENV)/bin/pushseg demo --out out/demo

test: venv
	$(PY) -m pytest -q

# The suite without the tests marked slow: under a minute on 2 CPU cores.
test-fast: venv
	$(PY) -m pytest -q -m "not slow"

bench: venv
	$(PY) benchmarks/env_throughput.py
	$(PY) benchmarks/label_quality.py
	$(PY) benchmarks/inference_speed.py
	$(PY) benchmarks/train_speed.py

clean:
	rm -rf $(VENV) out
