"""Real Terraform against real provider processes, through dev_overrides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.terraform_workspace import TERRAFORM, Workspace, cli_config, make_plugin_dir, terraform_env


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if TERRAFORM is None:
        raise pytest.UsageError("terraform (>= 1.11) is not on PATH: the end-to-end tests need the real binary")


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_plugin_dir(tmp_path_factory.mktemp("plugins"))


@pytest.fixture
def workspace(tmp_path: Path, plugin_dir: Path) -> Iterator[Workspace]:
    config = cli_config(tmp_path / "terraformrc", {"example/testing": plugin_dir, "dbaas/dbaas": plugin_dir})
    work, store = tmp_path / "work", tmp_path / "store"
    work.mkdir()
    store.mkdir()
    yield Workspace(work, store, terraform_env(config))
