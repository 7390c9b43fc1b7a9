# Two entry points for a fresh machine; each builds its own environment in .venv first.
#   make run   -> profile-model mixnet_s --input 224
#   make test  -> the test suite, the notebook (executed; its committed outputs must equal a fresh run's),
#                 and the published-figures check
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test env reports clean

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# timm and torchvision need this pair (a CUDA build; it runs on CPU too).
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/profile-model mixnet_s --input 224

test: $(STAMP)
	$(PY) -m pytest -q tests
	$(PY) benchmarks/make_notebook.py --check
	$(VENV)/bin/profile-model check

reports: $(STAMP)
	$(PY) benchmarks/make_reports.py

clean:
	rm -rf $(VENV)
