"""The registry examples (examples/provider, examples/resources/*, examples/data-sources/*) are valid HCL for
the provider's real schema: each directory is checked by `terraform validate` with the dbaas provider installed
through dev_overrides, and by `terraform fmt -check`. They are also what docs/ shows (provider/docgen.py)."""

from __future__ import annotations

import shutil

import pytest

from provider.dbaas import DbaasProvider
from tests.plugin_process import REPO
from tests.terraform_workspace import Workspace

EXAMPLES = REPO / "examples"
REGISTERED = {
    "resources": {item.type_name for item in DbaasProvider.resources},
    "data-sources": {item.type_name for item in DbaasProvider.data_sources},
}
# Registry examples are snippets without a terraform block; this makes `dbaas` mean dbaas/dbaas, not hashicorp/dbaas.
REQUIRED_PROVIDERS = 'terraform {\n  required_providers {\n    dbaas = { source = "dbaas/dbaas" }\n  }\n}\n'


def example_directories() -> list[str]:
    """Every registry example directory, relative to examples/."""
    found = ["provider"] if (EXAMPLES / "provider").is_dir() else []
    for kind in REGISTERED:
        found += sorted(f"{kind}/{path.name}" for path in (EXAMPLES / kind).glob("*") if path.is_dir())
    return found


def type_of(directory: str) -> tuple[str, str] | None:
    """(kind, type name) of a resource or data source example; None for the provider's."""
    kind, _, name = directory.partition("/")
    return (kind, name) if name else None


@pytest.mark.parametrize("directory", example_directories())
def test_example_validates(directory: str, workspace: Workspace) -> None:
    typed = type_of(directory)
    if typed is not None and typed[1] not in REGISTERED[typed[0]]:
        pytest.fail(f"examples/{directory} documents {typed[1]}, which the provider does not register")
    source = EXAMPLES / directory
    for path in source.glob("*.tf"):
        shutil.copy(path, workspace.path / path.name)
    if "required_providers" not in "".join(path.read_text() for path in source.glob("*.tf")):
        (workspace.path / "terraform.tf").write_text(REQUIRED_PROVIDERS)

    validated = workspace.run("validate", check=False)
    assert validated.returncode == 0, f"examples/{directory}:\n{validated.stdout}\n{validated.stderr}"
    formatted = workspace.run("fmt", "-check", "-diff", str(source), check=False)
    assert formatted.returncode == 0, f"examples/{directory} is not `terraform fmt`-formatted:\n{formatted.stdout}"


def test_each_resource_example_declares_its_type_and_import() -> None:
    for directory in example_directories():
        typed = type_of(directory)
        if typed is None:
            continue
        kind, name = typed
        example = EXAMPLES / directory / ("resource.tf" if kind == "resources" else "data-source.tf")
        block = "resource" if kind == "resources" else "data"
        assert f'{block} "{name}"' in example.read_text(), f"{example} does not declare a {name}"
        if kind == "resources":
            assert f"terraform import {name}." in (EXAMPLES / directory / "import.sh").read_text()
