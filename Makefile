# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment it needs when it is missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The demo's pseudonymisation key; a real deployment exports its own secret.
export FRAUD_PSEUDO_KEY ?= fraudgraph-demo-key-not-a-secret
export MLFLOW_DISABLE_TELEMETRY := true
DEMO_WORLD := demo/world
DEMO_LAKE := demo/lake
DEMO_DATE := 2026-03-28

.PHONY: demo test test-scale lint clean chromium

# pip byte-compiles what it installs (about a minute). Not skipped (--no-compile): with PYTHONDONTWRITEBYTECODE set
# (it is on this project's build machine), every process would then compile each module it imports from source, every time.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	mkdir -p demo
	$(BIN)/fraud simulate --out $(DEMO_WORLD) --people 20000 --days 28 --seed 1 > demo/simulate.json
	$(BIN)/fraud run --date $(DEMO_DATE) > demo/run.json
	$(BIN)/fraud evaluate --world $(DEMO_WORLD) --date $(DEMO_DATE)
	@echo
	@echo "scores:      $(DEMO_LAKE)/scores/dt=$(DEMO_DATE)/"
	@echo "mlflow:      sqlite:///$(CURDIR)/$(DEMO_LAKE)/mlflow.db  (artefacts in $(DEMO_LAKE)/mlartifacts)"
	@echo "evaluation:  $(DEMO_LAKE)/evaluation/dt=$(DEMO_DATE)/evaluation.json"
	@echo "quality:     $(DEMO_LAKE)/quality/"

# Two test processes, each with its own local Spark session: most of a test's time is the driver
# planning and scheduling tiny jobs, so two overlap well on two cores. A file stays on one process
# (its module fixtures, e.g. a simulated world, are built once).
test: $(BIN)/.installed chromium
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# Tests too costly for CI's 30 minutes (the `scale` marker in pyproject.toml): the skew test.
test-scale: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m scale --durations=5

# The analysts' report is tested in a real headless browser: Debian's chromium, installed when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: $(BIN)/.installed
	$(BIN)/ruff check .

clean:
	rm -rf demo .pytest_cache
