"""The provider's log as Terraform shows it with TF_LOG_PROVIDER=DEBUG: every line of an RPC carries the fields
terraform-plugin-go writes (tf_rpc, tf_req_id, tf_resource_type, tf_provider_addr); no transport chatter, no
error when the provider shuts down."""

from __future__ import annotations

import re

from tests.controlplane.cp_process import ControlPlane
from tests.terraform_workspace import Workspace

# Terraform re-logs a plugin's hclog JSON lines as `<time> [LEVEL] provider.<executable>: <message>: k=v k=v ...`.
PROVIDER_LINE = re.compile(
    r"^\S+ \[(?P<level>[A-Z]+)\]\s+provider\.(?P<executable>terraform-provider-\w+): (?P<rest>.*)$"
)
FIELD = re.compile(r'(?:^|\s)(?P<key>[@\w]+)=(?P<value>"(?:[^"\\]|\\.)*"|\S*)')
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RESOURCE_RPCS = {"ReadResource", "PlanResourceChange", "ApplyResourceChange", "UpgradeResourceState"}


def provider_lines(
    stderr: str, executable: str = "terraform-provider-testing"
) -> list[tuple[str, str, dict[str, str]]]:
    """(level, message, fields) of every line the provider `executable` logged."""
    found = []
    for line in stderr.splitlines():
        matched = PROVIDER_LINE.match(line)
        if matched is None or matched["executable"] != executable:
            continue
        message, _, field_text = matched["rest"].partition(": ")
        fields = {m["key"]: m["value"].strip('"') for m in FIELD.finditer(field_text)}
        found.append((matched["level"], message, fields))
    return found


def test_debug_log_lines_carry_the_rpc_fields_and_nothing_else_is_logged(workspace: Workspace) -> None:
    items = "".join(
        f'resource "testing_item" "i{n}" {{\n  name = "logged-{n}"\n  value = "{{v}}"\n}}\n' for n in (1, 2)
    )
    workspace.write(items.replace("{v}", "one"))
    workspace.apply()
    workspace.env["TF_LOG_PROVIDER"] = "DEBUG"
    workspace.write(items.replace("{v}", "two") + 'data "testing_item" "read" {\n  name = testing_item.i1.name\n}\n')
    runs = [workspace.apply(), workspace.plan_exit_code(), workspace.run("destroy", "-auto-approve")]
    stderr = "".join(run.stderr for run in runs)

    lines = provider_lines(stderr)
    messages = {message for _, message, _ in lines}
    assert {
        "Calling provider defined Resource Read",
        "Called provider defined Resource Read",
        "Calling provider defined Resource Update",
        "Calling provider defined Resource Delete",
        "Calling provider defined DataSource Read",
        "Calling provider defined Provider Configure",
    } <= messages
    for level, message, fields in lines:
        assert level in {"DEBUG", "INFO", "WARN"}, (level, message)
        assert fields["tf_provider_addr"] == "registry.terraform.io/example/testing", message
        assert UUID.match(fields["tf_req_id"]), fields
        if fields["tf_rpc"] in RESOURCE_RPCS:
            assert fields["tf_resource_type"] == "testing_item", (message, fields)
        if fields["tf_rpc"] == "ReadDataSource":
            assert fields["tf_data_source_type"] == "testing_item", (message, fields)
    reads = [fields for _, message, fields in lines if message == "Calling provider defined Resource Read"]
    assert len({fields["tf_req_id"] for fields in reads}) == len(reads) >= 2  # one id per call

    assert_quiet(stderr)


def test_dbaas_provider_logs_its_control_plane_calls_under_the_rpc_fields(
    workspace: Workspace, control_plane: ControlPlane
) -> None:
    workspace.env.update(
        DBAAS_ENDPOINT=control_plane.url,
        DBAAS_TOKEN=control_plane.create_token("acme"),
        DBAAS_PROJECT="acme",
        TF_LOG_PROVIDER="DEBUG",
    )
    (workspace.path / "main.tf").write_text(
        'terraform {\n  required_providers {\n    dbaas = { source = "dbaas/dbaas" }\n  }\n}\n'
        'provider "dbaas" {}\ndata "dbaas_regions" "all" {}\n'
    )
    stderr = workspace.apply().stderr

    lines = provider_lines(stderr, "terraform-provider-dbaas")
    reads = [fields for _, message, fields in lines if message == "Calling provider defined DataSource Read"]
    assert len(reads) == 1
    assert reads[0]["tf_data_source_type"] == "dbaas_regions"
    assert reads[0]["tf_provider_addr"] == "registry.terraform.io/dbaas/dbaas"
    for _, message, fields in lines:
        assert UUID.match(fields["tf_req_id"]) and fields["tf_rpc"], (message, fields)
    assert_quiet(stderr)


def assert_quiet(stderr: str) -> None:
    """No transport chatter (HTTP/2, HPACK, httpcore's connection steps), no broken pipe, and no error from
    Terraform's plugin client at shutdown (go-plugin logs one when a provider's stdout is still open as the
    process is reaped)."""
    assert not [line for line in stderr.splitlines() if re.search(r"hpack|\bh2\b|httpcore|Broken pipe", line)]
    assert not [line for line in stderr.splitlines() if "[ERROR]" in line]
