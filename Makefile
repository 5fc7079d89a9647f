# The front door: every target bootstraps the virtual environment on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSDEPS := $(VENV)/.sysdeps

.PHONY: sim test lint bench soak build flash deploy push bundle repl logs check server clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c "import sys; assert sys.version_info >= (3, 11), sys.version" || { echo "needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,server]'
	@touch $(STAMP)

sim: $(STAMP)
	$(PY) -m tools.cli sim $(ARGS)

# The Debian packages the tests run (PostgreSQL, Chromium): tools/sysdeps.sh installs what is missing.
$(SYSDEPS): tools/sysdeps.sh | $(STAMP)
	bash tools/sysdeps.sh
	@touch $(SYSDEPS)

test: $(STAMP) $(SYSDEPS)
	$(PY) -m pytest $(ARGS)

# ruff over tools/ and tests/, mpy-cross over every file the board runs (tools/lint.py)
lint: $(STAMP)
	$(PY) -m tools.lint

# The central server: make server ARGS="--demo" (docs/server.md)
server: $(STAMP)
	$(PY) -m tools.cli server $(ARGS)

bench: $(STAMP)
	$(PY) -m tools.cli bench $(ARGS)

# Long runs (docs/testing.md): make soak ARGS="--cuts 1000 --days 7 --seed N --only week"
soak: $(STAMP)
	$(PY) -m tools.cli soak $(ARGS)

build: $(STAMP)
	$(PY) -m tools.cli build

# On a real board: make flash FIRMWARE=ESP8266_GENERIC-v1.28.0.bin [PORT=/dev/ttyUSB0]; make deploy [CONFIG=config.json]
# [ROMFS=1: the firmware in the ROMFS partition of a FLASH_2M_ROMFS build]
flash: $(STAMP)
	$(PY) -m tools.cli flash $(FIRMWARE) $(if $(PORT),--port $(PORT)) $(ARGS)

deploy: $(STAMP)
	$(PY) -m tools.cli deploy $(if $(PORT),--port $(PORT)) $(if $(CONFIG),--config $(CONFIG)) $(if $(ROMFS),--romfs) $(ARGS)

push: $(STAMP)
	$(PY) -m tools.cli push --host $(HOST) $(ARGS)

bundle: $(STAMP)
	$(PY) -m tools.cli bundle $(ARGS)

repl: $(STAMP)
	$(PY) -m tools.cli repl $(if $(PORT),--port $(PORT))

logs: $(STAMP)
	$(PY) -m tools.cli logs $(if $(PORT),--port $(PORT))

check: $(STAMP)
	$(PY) -m tools.cli check $(or $(CONFIG),config.json)

clean:
	rm -rf build $(VENV)
