# cpeguard: `make demo` runs the main job on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo
SEED ?= 7
SCALE ?= 3.0

.PHONY: demo test check format bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cpeguard needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cpeguard simulate --out $(DEMO)/sim --seed $(SEED) --scale $(SCALE)
	$(BIN)/cpeguard score --events $(DEMO)/sim/events.parquet --posts $(DEMO)/sim/posts.parquet \
		--campaigns $(DEMO)/sim/campaigns.parquet --out $(DEMO)/scored
	$(BIN)/cpeguard evaluate --scored $(DEMO)/scored --truth $(DEMO)/sim/truth --json $(DEMO)/metrics.json

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/mkdocs build --strict --quiet

test: check
	$(BIN)/pytest -n 2 --nbmake tests notebooks

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.dense_speed
	$(BIN)/python -m benchmarks.quality --scale 3

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
