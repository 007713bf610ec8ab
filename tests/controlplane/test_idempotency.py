"""`Idempotency-Key` on creates and `If-None-Match: *` on strategies: real control plane, real HTTP.

A retry is the same request sent again with the same key, as a client does when the first answer was lost.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog.db import transaction
from controlplane.catalog.idempotency import KEY_LIFETIME, find_key, record_answer
from tests.controlplane.cp_process import ControlPlane, wait_for_state

PROJECT = "/v1/projects/acme"
SERVICES = f"{PROJECT}/services"
STRATEGY = f"{PROJECT}/backup_strategy"


@pytest.fixture(scope="module")
def source(acme: httpx.Client) -> dict[str, Any]:
    body = {"name": "source", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(SERVICES, json=body).status_code == 201
    return wait_for_state(acme, f"{SERVICES}/source", {"RUNNING"})


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def service_body(name: str) -> dict[str, Any]:
    return {"name": name, "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}


def service_names(client: httpx.Client) -> list[str]:
    return [service["name"] for service in client.get(SERVICES).json()["services"]]


def test_a_retried_post_returns_the_service_the_first_made(acme: httpx.Client) -> None:
    key = str(uuid.uuid4())
    first = acme.post(SERVICES, json=service_body("retried"), headers=keyed(key))
    again = acme.post(SERVICES, json=service_body("retried"), headers=keyed(key))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert service_names(acme).count("retried") == 1


def test_the_same_key_with_another_body_is_refused(acme: httpx.Client) -> None:
    key = str(uuid.uuid4())
    assert acme.post(SERVICES, json=service_body("keyed-once"), headers=keyed(key)).status_code == 201
    other = acme.post(SERVICES, json=service_body("keyed-twice"), headers=keyed(key))
    assert other.status_code == 422
    assert other.json()["error"]["field"] == "Idempotency-Key"
    assert "keyed-twice" not in service_names(acme)


@pytest.mark.parametrize("key", ["x" * 129, "two\tparts", ""])
def test_a_malformed_key_is_refused_naming_the_header(acme: httpx.Client, key: str) -> None:
    answer = acme.put(STRATEGY, json={"container": "malformed"}, headers=keyed(key))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "Idempotency-Key"


def test_one_key_sent_twice_at_once_creates_one_service(acme: httpx.Client) -> None:
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: acme.post(SERVICES, json=service_body("raced"), headers=keyed(key)), range(2))
        )
    # Both get the service the winner made; never "already exists", which would mean both acted.
    assert [answer.status_code for answer in answers] == [201, 201], [answer.text for answer in answers]
    assert answers[0].json() == answers[1].json()
    assert service_names(acme).count("raced") == 1


def test_a_create_cut_short_by_kill_9_is_retried_into_one_service(
    control_plane: ControlPlane, acme: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(acme.post, SERVICES, json=service_body("cut-short"), headers=keyed(key))
        control_plane.kill()  # the answer is lost; whether the create happened is the control plane's to know
        try:
            first.result()
        except httpx.HTTPError:
            pass
    control_plane.start()
    again = acme.post(SERVICES, json=service_body("cut-short"), headers=keyed(key))
    assert again.status_code == 201, again.text
    assert service_names(acme).count("cut-short") == 1
    wait_for_state(acme, f"{SERVICES}/cut-short", {"RUNNING"})


def test_a_retried_backup_put_after_success_returns_the_backup(acme: httpx.Client, source: dict[str, Any]) -> None:
    path = f"{SERVICES}/source/backups/nightly"
    key = str(uuid.uuid4())
    first = acme.put(path, json={"description": "first"}, headers=keyed(key))
    again = acme.put(path, json={"description": "first"}, headers=keyed(key))
    assert first.status_code == again.status_code == 202, again.text
    assert again.json() == first.json()
    # Without the key the same PUT is a second create of that name.
    assert acme.put(path, json={"description": "first"}).status_code == 409


def test_a_retried_backup_post_makes_one_backup(acme: httpx.Client, source: dict[str, Any]) -> None:
    path = f"{SERVICES}/source/backups"
    key = str(uuid.uuid4())
    before = len(acme.get(path).json()["backups"])
    first = acme.post(path, json={"labels": {"retry": "yes"}}, headers=keyed(key))
    again = acme.post(path, json={"labels": {"retry": "yes"}}, headers=keyed(key))
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["name"] == first.json()["name"]
    assert len(acme.get(path).json()["backups"]) == before + 1


def test_create_only_put_never_replaces_a_strategy(control_plane: ControlPlane, acme: httpx.Client) -> None:
    create_only = {"If-None-Match": "*"}
    assert acme.put(STRATEGY, json={"container": "first"}, headers=create_only).status_code == 200
    taken = acme.put(STRATEGY, json={"container": "second"}, headers=create_only)
    assert taken.status_code == 409
    assert "already exists" in taken.json()["error"]["message"]
    assert acme.get(STRATEGY).json()["container"] == "first"
    # A plain PUT (an update) still replaces it.
    assert acme.put(STRATEGY, json={"container": "updated"}).json()["container"] == "updated"


def test_keys_belong_to_the_token_s_project(control_plane: ControlPlane, acme: httpx.Client) -> None:
    key = str(uuid.uuid4())
    assert acme.put(STRATEGY, json={"container": "acme-s"}, headers=keyed(key)).status_code == 200
    with control_plane.client(control_plane.create_token("other")) as other:
        answer = other.put("/v1/projects/other/backup_strategy", json={"container": "other-s"}, headers=keyed(key))
        assert answer.status_code == 200
        assert answer.json()["project"] == "other"


def test_a_key_is_taken_for_a_day_then_free(sessions: sessionmaker[Session]) -> None:
    request = {"scope": "acme", "key": "k", "method": "POST", "path": "/v1/projects/acme/services", "status": 201}
    with transaction(sessions) as session:
        record_answer(session, **request, request_hash="first", response={"name": "first"})
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        record_answer(session, **request, request_hash="second", response={"name": "second"})
    with transaction(sessions) as session:
        found = find_key(session, scope="acme", key="k")
        assert found is not None and found.request_hash == "first" and found.response == {"name": "first"}
        found.created_at -= KEY_LIFETIME + timedelta(seconds=1)
    with transaction(sessions) as session:
        assert find_key(session, scope="acme", key="k") is None
        record_answer(session, **request, request_hash="second", response={"name": "second"})
