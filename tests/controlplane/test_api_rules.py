"""Tokens, project isolation and input validation of the REST API, over real HTTP."""

from __future__ import annotations

import pytest

from tests.controlplane.cp_process import ControlPlane

VALID = {"name": "valid", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}


@pytest.fixture(scope="module")
def tokens(control_plane: ControlPlane) -> dict[str, str]:
    return {project: control_plane.create_token(project) for project in ("acme", "globex")}


def test_no_or_bad_token_is_401(control_plane: ControlPlane) -> None:
    for token in (None, "dbaas_not-a-real-token"):
        with control_plane.client(token) as client:
            response = client.get("/v1/regions")
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"


def test_regions_of_the_embedded_default(control_plane: ControlPlane, tokens: dict[str, str]) -> None:
    with control_plane.client(tokens["acme"]) as client:
        assert [r["name"] for r in client.get("/v1/regions").json()["regions"]] == ["local-east", "local-west"]


def test_regions_offer_what_a_create_accepts(control_plane: ControlPlane, tokens: dict[str, str]) -> None:
    with control_plane.client(tokens["acme"]) as client:
        regions = client.get("/v1/regions").json()["regions"]
        for region in regions:
            assert region["plans"] == ["hobbyist", "startup-4", "business-8"]
            assert region["service_types"] == [
                {"name": "pg", "versions": ["15"]},
                {"name": "mysql", "versions": ["10.11"]},
            ], "the default version last"
        offered = dict(VALID, name="offered", cloud=regions[-1]["name"], plan=regions[-1]["plans"][0], version="15")
        created = client.post("/v1/projects/acme/services", json=offered)
        assert created.status_code == 201, created.text


def test_tokens_are_stored_hashed(control_plane: ControlPlane, tokens: dict[str, str]) -> None:
    catalog = (control_plane.data_dir / "catalog.sqlite").read_bytes()
    assert tokens["acme"].encode() not in catalog


def test_admin_token_file_is_private(control_plane: ControlPlane) -> None:
    assert (control_plane.data_dir / "admin-token").stat().st_mode & 0o777 == 0o600


def test_a_token_never_sees_another_project(control_plane: ControlPlane, tokens: dict[str, str]) -> None:
    with control_plane.client(tokens["acme"]) as acme, control_plane.client(tokens["globex"]) as globex:
        assert acme.post("/v1/projects/acme/services", json=dict(VALID, name="secret-sauce")).status_code == 201
        assert globex.get("/v1/projects/acme/services/secret-sauce").status_code == 404
        assert globex.get("/v1/projects/acme/services").status_code == 404
        assert globex.delete("/v1/projects/acme/services/secret-sauce").status_code == 404
        assert globex.post("/v1/projects/acme/services", json=dict(VALID, name="intruder")).status_code == 404
        assert globex.get("/v1/projects/globex/services").json()["services"] == []
    with control_plane.client(control_plane.admin_token) as admin:
        assert admin.get("/v1/projects/acme/services/secret-sauce").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"cloud": "mars-north"}, "cloud", 422),
        ({"name": "Bad_Name"}, "name", 422),
        ({"name": "x" * 64}, "name", 422),
        ({"plan": "galactic-64"}, "plan", 422),
        ({"service_type": "oracle"}, "service_type", 422),
        ({"service_type": None}, "service_type", 422),
        ({"version": "9"}, "version", 422),
        ({"user_config": {"additional_backup_regions": ["local-east"]}}, "user_config.additional_backup_regions", 422),
        ({"user_config": {"additional_backup_regions": ["nowhere"]}}, "user_config.additional_backup_regions", 422),
        ({"surprise": 1}, "surprise", 422),
    ],
)
def test_bad_input_names_the_field(
    control_plane: ControlPlane, tokens: dict[str, str], change: dict[str, object], field: str, status: int
) -> None:
    with control_plane.client(tokens["acme"]) as client:
        response = client.post("/v1/projects/acme/services", json={**VALID, **change})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field and error["code"] == "invalid" and field.split(".")[-1] in error["message"]


def test_duplicate_name_is_409(control_plane: ControlPlane, tokens: dict[str, str]) -> None:
    with control_plane.client(tokens["acme"]) as client:
        assert client.post("/v1/projects/acme/services", json=dict(VALID, name="twice")).status_code == 201
        response = client.post("/v1/projects/acme/services", json=dict(VALID, name="twice"))
    assert response.status_code == 409 and response.json()["error"]["field"] == "name"


def test_bad_patch_names_the_field(control_plane: ControlPlane, tokens: dict[str, str]) -> None:
    with control_plane.client(tokens["acme"]) as client:
        client.post("/v1/projects/acme/services", json=dict(VALID, name="patched"))
        response = client.patch("/v1/projects/acme/services/patched", json={"plan": "nope"})
        assert response.status_code == 422 and response.json()["error"]["field"] == "plan"
        missing = client.patch("/v1/projects/acme/services/ghost", json={"plan": "hobbyist"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
