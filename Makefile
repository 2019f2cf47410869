# Two commands do all set-up: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast demo lint typecheck pytest bench prometheus clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Installs Prometheus with apt-get when running as root and it is missing; otherwise says how.
prometheus:
	@if command -v prometheus >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing prometheus with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null \
		|| echo "could not install prometheus; going on with client-side metrics only"; \
	else \
		echo "prometheus is not installed: 'sudo apt-get install prometheus' adds server-side metrics; going on without"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check harness analysis locustfiles tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers, a test module stays on one worker (its module-scoped emulator is started once);
# -rs prints every skip's reason.
pytest: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile -rs --durations=15

# The full suite, as CI runs it: lint, types, every test.
test: lint typecheck pytest

# Every test that starts no process, in under a minute (tests/conftest.py, "test tiers").
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow" --durations=10

demo: $(STAMP) prometheus
	$(BIN)/harness canary hello --from v1 --to v2

bench: $(STAMP)
	$(BIN)/python -m analysis.bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
