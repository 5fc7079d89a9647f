# The front door: every target bootstraps the virtual environment on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: sim test bench build clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c "import sys; assert sys.version_info >= (3, 11), sys.version" || { echo "needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

sim: $(STAMP)
	$(PY) -m tools.cli sim $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

bench: $(STAMP)
	$(PY) -m tools.cli bench $(ARGS)

build: $(STAMP)
	$(PY) -m tools.cli build

clean:
	rm -rf build $(VENV)
