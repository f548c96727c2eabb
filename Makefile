# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist
export DJANGO_SETTINGS_MODULE ?= config.settings.local

.PHONY: run setup test test-fast bench fuzz lint dataset photos fonts browser wordnet js clean help

help:
	@echo "make run    set up (venv, data set, database, demo account, baseline model) and start web, worker, beat"
	@echo "make test   run the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)"
	@echo "make bench  run the benchmarks and rewrite docs/benchmarks.md"
	@echo "make fuzz   fuzz the intake (validation and decode) for FUZZ_SECONDS (600) with a CPU budget per input"
	@echo "make lint   ruff check, ruff format --check, import contracts (lint-imports), mypy"
	@echo "make test-fast  the suite without TensorFlow, trained models or the browser (under a minute)"

$(VENV)/.runtime: requirements.txt requirements-nodeps.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# Debian's dataset-fashion-mnist, installed when missing and apt is usable.
dataset:
	@if [ -f "$(FASHION_MNIST_DIR)/t10k-labels-idx1-ubyte.gz" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's dataset-fashion-mnist…"; \
		apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
		sudo apt-get install -y -qq dataset-fashion-mnist || { sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist; }; \
	else \
		echo "Fashion-MNIST is missing. Install it with: sudo apt-get install dataset-fashion-mnist"; \
		echo "(or set FASHION_MNIST_DIR to a folder holding the four idx .gz files)"; exit 1; \
	fi

# Debian's fonts: the text the OCR tests and bench/text_in_images.py write on photos.
fonts:
	@if [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] && [ -d /usr/share/fonts/truetype/liberation ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -qq fonts-dejavu-core fonts-liberation >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq fonts-dejavu-core fonts-liberation >/dev/null; }; \
	else echo "fonts are missing: sudo apt-get install fonts-dejavu-core fonts-liberation (OCR tests need them)"; fi

# Debian's wallpaper packages: real photos with no garment in them, the
# negatives that calibrate the open-set gate (docs/models.md) and that
# bench/real_photos.py measures. Optional: without them the gate calibrates
# on what is installed.
photos:
	@if [ -d /usr/share/wallpapers ] && [ -d /usr/share/backgrounds ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's wallpapers (calibration photos for the open-set gate)…"; \
		apt-get install -y -qq plasma-workspace-wallpapers ukui-wallpapers >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq plasma-workspace-wallpapers ukui-wallpapers >/dev/null; } || true; \
	else echo "optional: sudo apt-get install plasma-workspace-wallpapers ukui-wallpapers (open-set gate calibration)"; fi

# Debian's Chromium for the browser tests (never a downloaded browser).
browser:
	@if command -v chromium >/dev/null; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's chromium for the browser tests…"; \
		apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; \
	else echo "chromium is missing: sudo apt-get install chromium (browser tests need it)"; fi

# axe-core, injected by the browser suite (tests/browser) into every page; pinned
# in package.json / package-lock.json and installed from them, nothing else.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund && touch $@; \
	else echo "npm is missing: sudo apt-get install npm (the browser suite's accessibility check needs axe-core)"; fi

js: node_modules/.installed

# Debian's WordNet 3.0, read only by the taxonomy generator and its test
# (classifier/ml/taxonomy_build.py); the platform never needs it to run.
wordnet:
	@if [ -f /usr/share/wordnet/data.noun ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -qq wordnet-base >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wordnet-base >/dev/null; }; \
	else echo "WordNet is missing: sudo apt-get install wordnet-base (the taxonomy generator's test is skipped)"; fi

setup: $(VENV)/.runtime dataset photos
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap

run: setup
	$(PY) manage.py run_platform

test: $(VENV)/.dev dataset fonts browser wordnet js
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest $(PYTEST_ARGS)

# The suite without TensorFlow, trained models or the browser: under a minute,
# one pytest-xdist process per core (each its own database, media and queues).
TEST_PROCESSES ?= auto
test-fast: $(VENV)/.dev dataset fonts
	TEST_WITHOUT_TENSORFLOW=1 DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest -m "not tf and not browser" -n $(TEST_PROCESSES) $(PYTEST_ARGS)

# The end-to-end benchmarks (pipeline, soak, review queue) run on PostgreSQL and
# Redis: a scratch database (created anew by each run) and Redis database 3.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/moderation_bench
bench: $(VENV)/.dev dataset photos fonts
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) -m bench.run_all

# Every step runs even when one fails; the target fails if any did.
# Property-based fuzzing of the intake (tests/fuzz/fuzz_intake.py): each input
# within 1 s of CPU in the web and 2 s in the worker, never a 500. The corpus
# and the findings stay in tests/fuzz/corpus/ (commit what a run adds).
FUZZ_SECONDS ?= 600
fuzz: $(VENV)/.dev
	FUZZ_SECONDS=$(FUZZ_SECONDS) DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m tests.fuzz.fuzz_intake

lint: $(VENV)/.dev
	@status=0; \
	echo "== ruff check"; $(VENV)/bin/ruff check . || status=1; \
	echo "== ruff format --check"; $(VENV)/bin/ruff format --check . || status=1; \
	echo "== import contracts"; $(VENV)/bin/lint-imports || status=1; \
	echo "== mypy"; $(VENV)/bin/mypy || status=1; \
	exit $$status

clean:
	rm -rf var/ .pytest_cache test-artifacts node_modules
