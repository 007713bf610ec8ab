"""The dbaas provider binary under real Terraform."""

from __future__ import annotations

import json

from tests.terraform_workspace import Workspace

HEADER = 'terraform {\n  required_providers {\n    dbaas = { source = "dbaas/dbaas" }\n  }\n}\n'


def test_schema_is_served_with_sensitive_token(workspace: Workspace) -> None:
    (workspace.path / "main.tf").write_text(HEADER + 'provider "dbaas" {}\n')
    schemas = json.loads(workspace.run("providers", "schema", "-json").stdout)
    provider = schemas["provider_schemas"]["registry.terraform.io/dbaas/dbaas"]["provider"]["block"]
    assert set(provider["attributes"]) == {"endpoint", "token", "project"}
    assert provider["attributes"]["token"]["sensitive"] is True
