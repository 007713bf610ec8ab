"""Bounded work: one tenant cannot hold everyone's workers. A real control plane process over real HTTP.

The attacker (project `greedy`) queues backups of one service as fast as it can: its service takes them
one at a time, at most eight wait unfinished and the rest are refused, while another project (`quiet`)
still gets its services created. Lists come a page at a time; label keys follow a rule.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.controlplane.cp_process import ControlPlane, wait_for_state

GREEDY = "/v1/projects/greedy/services"
HOG_BACKUPS = f"{GREEDY}/hog/backups"
QUIET = "/v1/projects/quiet/services"
QUEUE_LIMIT = 8  # controlplane/domain/backups.py MAX_UNFINISHED_BACKUPS


def service_body(name: str) -> dict[str, Any]:
    return {"name": name, "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}


@pytest.fixture(scope="module")
def greedy(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client(control_plane.create_token("greedy")) as client:
        assert client.post(GREEDY, json=service_body("hog")).status_code == 201
        wait_for_state(client, f"{GREEDY}/hog", {"RUNNING"})
        yield client


@pytest.fixture(scope="module")
def quiet(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client(control_plane.create_token("quiet")) as client:
        yield client


def token(key: object) -> str:
    """A page token as the control plane spells them, carrying any key (they are opaque, not secret)."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def every_page(client: httpx.Client, path: str, key: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following next_page_token; and how many pages that took."""
    items: list[dict[str, Any]] = []
    pages, token = 0, None
    while True:
        response = client.get(path, params={**params, **({"page_token": token} if token else {})})
        assert response.status_code == 200, response.text
        pages += 1
        items.extend(response.json()[key])
        token = response.json()["next_page_token"]
        if token is None:
            return items, pages


def test_a_burst_of_backups_runs_one_at_a_time_and_its_queue_is_bounded(
    greedy: httpx.Client, quiet: httpx.Client
) -> None:
    # Sent all at once, as a script in a loop of background requests would: the limit holds however they
    # interleave. None of the burst can have finished yet: the first backup alone creates the stanza.
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda n: greedy.post(HOG_BACKUPS, json={"name": f"burst-{n:02d}"}), range(10)))
    assert sorted(answer.status_code for answer in answers) == [202] * QUEUE_LIMIT + [409] * 2
    for refused in (answer for answer in answers if answer.status_code == 409):
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["field"] == "service" and "too many backups queued for service 'hog'" in error["message"]

    # Meanwhile another project's service is created as usual.
    assert quiet.post(QUIET, json=service_body("bystander")).status_code == 201
    running_seen: list[int] = []
    while True:  # observed while they run: never two of the service's backups at once
        states = [backup["state"] for backup in greedy.get(HOG_BACKUPS).json()["backups"]]
        running_seen.append(states.count("Running"))
        if all(state in ("Succeeded", "Failed") for state in states):
            break
        time.sleep(0.1)
    assert max(running_seen) <= 1, running_seen
    assert states == ["Succeeded"] * QUEUE_LIMIT
    assert wait_for_state(quiet, f"{QUIET}/bystander", {"RUNNING"})["state"] == "RUNNING"

    # The queue drained: the service takes backups again.
    again = greedy.post(HOG_BACKUPS, json={"name": "after-burst"})
    assert again.status_code == 202, again.text


def test_pages_hold_every_backup_exactly_once(greedy: httpx.Client) -> None:
    whole = greedy.get(HOG_BACKUPS).json()
    assert whole["next_page_token"] is None and len(whole["backups"]) >= QUEUE_LIMIT
    paged, pages = every_page(greedy, HOG_BACKUPS, "backups", page_size=2)
    assert [b["name"] for b in paged] == [b["name"] for b in whole["backups"]]
    assert pages == (len(paged) + 1) // 2
    one, _ = every_page(greedy, HOG_BACKUPS, "backups", page_size=1, label="dbaas-scheduled=true")
    assert one == []


def test_services_come_a_page_at_a_time(quiet: httpx.Client) -> None:
    for name in ("page-b", "page-a"):
        assert quiet.post(QUIET, json=service_body(name)).status_code == 201
    paged, pages = every_page(quiet, QUIET, "services", page_size=1)
    names = [service["name"] for service in paged]
    assert names == sorted(names) and {"page-a", "page-b"} <= set(names) and pages == len(names)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (HOG_BACKUPS, {"page_token": "not a token"}, "page_token"),
        (HOG_BACKUPS, {"page_token": "é"}, "page_token"),
        (HOG_BACKUPS, {"page_token": token([])}, "page_token"),
        (HOG_BACKUPS, {"page_token": token(["hog", "greedy"])}, "page_token"),  # a services token
        (HOG_BACKUPS, {"page_token": token(["yesterday", 1])}, "page_token"),
        (HOG_BACKUPS, {"page_token": token(["2026-12-01T10:00:00", 1])}, "page_token"),  # no time zone
        (HOG_BACKUPS, {"page_token": token(["0001-01-01T00:00:00+05:00", 1])}, "page_token"),  # before year 1 UTC
        (HOG_BACKUPS, {"page_token": token(["2026-12-01T10:00:00+00:00", True])}, "page_token"),
        (HOG_BACKUPS, {"page_token": token(["2026-12-01T10:00:00+00:00", 2**64])}, "page_token"),
        (QUIET, {"page_token": token(["page-a\u0000", "quiet"])}, "page_token"),
        (QUIET, {"page_token": token(["page-a", 1])}, "page_token"),
        (HOG_BACKUPS, {"page_size": 0}, "page_size"),
        (QUIET, {"page_size": 1001}, "page_size"),
        (HOG_BACKUPS, {"label": 'bad"key=1'}, "label"),
    ],
)
def test_bad_list_parameters_are_refused(
    greedy: httpx.Client, quiet: httpx.Client, path: str, params: dict[str, Any], field: str
) -> None:
    refused = (quiet if path == QUIET else greedy).get(path, params=params)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field


@pytest.mark.parametrize(
    "labels",
    [
        {"-leading-dash": "x"},
        {"trailing.": "x"},
        {"a" * 64: "x"},
        {"sp ace": "x"},
        {"": "x"},
        {"ok": "x" * 257},
        {"ok": "line\nbreak"},
        {"ok": "nul\u0000"},
        {f"k{n}": "v" for n in range(65)},
    ],
)
def test_bad_labels_are_refused(greedy: httpx.Client, labels: dict[str, str]) -> None:
    created = greedy.post(HOG_BACKUPS, json={"name": "labelled", "labels": labels})
    assert created.status_code == 422 and created.json()["error"]["field"] == "labels", created.text
    patched = greedy.patch(f"{HOG_BACKUPS}/after-burst", json={"labels": labels})
    assert patched.status_code == 422 and patched.json()["error"]["field"] == "labels", patched.text


def test_good_labels_are_kept(greedy: httpx.Client) -> None:
    labels = {"app.example.com/tier": "gold", "a": "", "Z9_x-y": "é " * 128}
    patched = greedy.patch(f"{HOG_BACKUPS}/after-burst", json={"labels": labels})
    assert patched.status_code == 200 and patched.json()["labels"] == labels, patched.text
