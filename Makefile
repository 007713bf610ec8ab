# The project's commands. `make test` is the README's test command and what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install bytecode test unit e2e bench lint proto docs quickstart package swift-up swift-down

install: $(BIN)/terraform-provider-dbaas

$(BIN)/terraform-provider-dbaas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

# Byte-compile as a regular install does, even where PYTHONDONTWRITEBYTECODE is set: every plugin
# launch would otherwise compile the provider from source.
bytecode: install
	$(BIN)/python -m compileall -q provider controlplane tests bench

test: bytecode
	$(BIN)/python -m pytest -q

unit: install
	$(BIN)/python -m pytest -q tests/unit provider

e2e: install
	$(BIN)/python -m pytest -q tests/e2e

bench: bytecode
	$(BIN)/python bench/launch_cycle.py
	$(BIN)/python bench/plan_unchanged.py
	$(BIN)/python bench/service_create.py
	$(BIN)/python bench/backup_plan.py
	$(BIN)/python bench/fork_latest.py
	$(BIN)/python bench/provider_cpu.py
	$(BIN)/python bench/cp_get.py
	$(BIN)/python bench/package_launch.py

lint: install
	$(BIN)/ruff check provider controlplane tests bench proto packaging tools
	$(BIN)/ruff format --check provider controlplane tests bench proto packaging tools
	$(BIN)/mypy

# The release in dist/: terraform-provider-dbaas_<version>_linux_amd64.zip, its SHA256SUMS and registry manifest
# (packaging/build_package.py). PACKAGE_PYTHONS: more interpreters to byte-compile for, e.g. python3.12.
PACKAGE_PYTHONS ?=
package: install
	$(BIN)/python packaging/build_package.py --dist dist $(addprefix --python ,$(PACKAGE_PYTHONS))

proto: install
	$(BIN)/python proto/generate.py

# Registry docs (docs/) from the provider's schema and examples/; `--check` is a test (provider/test_docgen.py).
docs: install
	$(BIN)/python -m provider.docgen

# Starts the control plane in the background and applies examples/quickstart (see its README.md).
quickstart: install
	examples/quickstart/quickstart.sh apply

# Destroys the quickstart's resources and stops the control plane and its PostgreSQL servers.
quickstart-destroy: install
	examples/quickstart/quickstart.sh destroy

# Two Swift all-in-one clusters on loopback (regions swift-east and swift-west) under .swift/, and
# .swift/dbaas.toml for `dbaas-cp serve --config` (tools/swift_cluster.py; README "Swift regions").
swift-up: install
	$(BIN)/python -m tools.swift_cluster up --dir .swift

swift-down:
	$(BIN)/python -m tools.swift_cluster down --dir .swift
