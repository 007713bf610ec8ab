"""Limits a hostile tenant runs into: a real control plane process over real HTTP.

Schedules: five-field cron only, firings at least 15 minutes apart, or a tenant could ask for a full
backup every second. Bodies: over 1 MiB answers 413 before the body is read, before authentication too,
so that a request without a token cannot make the process hold hundreds of megabytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.controlplane.cp_process import ControlPlane

STRATEGY = "/v1/projects/acme/backup_strategy"
SERVICES = "/v1/projects/acme/services"
MIB = 1024 * 1024
TOO_LARGE = {"code": "too_large", "message": "request body larger than 1048576 bytes (1 MiB)", "field": None}


@pytest.fixture(scope="module")
def anonymous(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client(None) as client:
        yield client


@pytest.mark.parametrize("field", ["schedule", "restore_test_schedule"])
def test_schedules_that_fire_too_often_are_refused(acme: httpx.Client, field: str) -> None:
    for schedule in (
        "* * * * * *",
        "0 3 * * * 2030",
        "* * * * *",
        "*/14 * * * *",
        "5,55 0,23 * * *",
        "@hourly",
        "0 0 30 2 *",
    ):
        refused = acme.put(STRATEGY, json={"container": "box", field: schedule})
        assert refused.status_code == 422, (schedule, refused.text)
        assert refused.json()["error"]["field"] == field, schedule
    accepted = acme.put(STRATEGY, json={"container": "box", field: "*/15 * * * *"})
    assert accepted.status_code == 200 and accepted.json()[field] == "*/15 * * * *", accepted.text
    assert acme.delete(STRATEGY).status_code == 204


def rss_kib(control_plane: ControlPlane) -> int:
    assert control_plane.process is not None
    status = f"/proc/{control_plane.process.pid}/status"
    with open(status) as file:
        return next(int(line.split()[1]) for line in file if line.startswith("VmRSS:"))


def zeros(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A body streamed from here, never held whole by the test either."""
    for _ in range(size // chunk):
        yield bytes(chunk)


def test_a_large_body_without_a_token_answers_413_unread(control_plane: ControlPlane, anonymous: httpx.Client) -> None:
    declared = anonymous.post(SERVICES, content=b"{" + b" " * (2 * MIB) + b"}")
    assert declared.status_code == 413 and declared.json() == {"error": TOO_LARGE}, declared.text
    before = rss_kib(control_plane)
    # 64 MiB each way: read into memory it would show many times over the few MB allowed.
    headers = {"Content-Type": "application/json", "Content-Length": str(64 * MIB)}
    assert anonymous.post(SERVICES, content=zeros(64 * MIB), headers=headers).status_code == 413
    chunked = anonymous.post(SERVICES, content=zeros(64 * MIB), headers={"Content-Type": "application/json"})
    assert chunked.request.headers["Transfer-Encoding"] == "chunked"
    assert chunked.status_code == 413 and chunked.json() == {"error": TOO_LARGE}, chunked.text
    assert rss_kib(control_plane) - before < 8 * 1024


def test_a_body_at_the_cap_is_read(acme: httpx.Client) -> None:
    """1 MiB exactly, chunked, reaches the route (whose validation refuses it): the cap is not lower."""
    padded = b'{"container": "' + b"x" * (MIB - 17) + b'"}'
    assert len(padded) == MIB
    answered = acme.put(STRATEGY, content=iter([padded]), headers={"Content-Type": "application/json"})
    assert answered.status_code == 422 and answered.json()["error"]["field"] == "container", answered.text
