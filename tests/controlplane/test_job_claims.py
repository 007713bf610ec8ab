"""Job claims under concurrency: separate processes, threads, expired leases, a worker killed with -9.

The process tests are the point of the PostgreSQL catalog (several control planes share one queue
through FOR UPDATE SKIP LOCKED); they also run on SQLite, where BEGIN IMMEDIATE serialises claims.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import jobs, services
from controlplane.catalog.clock import now
from controlplane.catalog.db import make_engine, session_factory, transaction
from controlplane.catalog.models import JOB_FAILED, JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, Job
from controlplane.jobs.kinds import DELETE_BACKUP, DELETE_SERVICE, TAKE_BACKUP
from tests.controlplane.factories import new_service

REPO = Path(__file__).resolve().parents[2]
JOB_COUNT = 200


def enqueue(sessions: sessionmaker[Session], count: int, *, kind: str = "noop") -> list[int]:
    with transaction(sessions) as session:
        return [jobs.enqueue_job(session, kind=kind, project="acme", service_id=None).id for _ in range(count)]


def claim(sessions: sessionmaker[Session], owner: str, lease_seconds: float = 60, **options: Any) -> Job | None:
    with transaction(sessions) as session:
        return jobs.claim_job(session, owner=owner, lease_seconds=lease_seconds, **options)


def drain(sessions: sessionmaker[Session], owner: str) -> list[int]:
    """Claim and finish jobs until the queue is empty, as a worker does; the ids claimed, in order."""
    claimed = []
    while (job := claim(sessions, owner)) is not None:
        claimed.append(job.id)
        time.sleep(0.002)  # a job takes time to run; meanwhile the other claimers get their turn
        with transaction(sessions) as session:
            jobs.finish_job(session, job_id=job.id, owner=owner)
    return claimed


def _drain_in_child(url: str, owner: str, start: Any, results: Any) -> None:
    engine = make_engine(url)
    try:
        with engine.connect():
            pass  # connected before the start line, so that both processes really claim at once
        start.wait(timeout=60)
        results.put((owner, drain(session_factory(engine), owner)))
    except BaseException as err:  # reported to the test rather than left as a silent timeout
        results.put((owner, f"{type(err).__name__}: {err}"))
        raise
    finally:
        engine.dispose()


def assert_claimed_once_each(queued: list[int], claims: dict[str, list[int]]) -> None:
    assert all(isinstance(claimed, list) for claimed in claims.values()), claims
    counts = Counter(job_id for claimed in claims.values() for job_id in claimed)
    assert sorted(counts) == sorted(queued), "every job is claimed"
    assert {job_id: n for job_id, n in counts.items() if n > 1} == {}, "no job is claimed twice"


def test_two_processes_claim_every_job_exactly_once(catalog_url: str, sessions: sessionmaker[Session]) -> None:
    queued = enqueue(sessions, JOB_COUNT)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    children = [
        context.Process(target=_drain_in_child, args=(catalog_url, owner, start, results))
        for owner in ("cp-one", "cp-two")
    ]
    for child in children:
        child.start()
    try:
        claims = dict(results.get(timeout=120) for _ in children)
    finally:
        for child in children:
            child.join(timeout=30)
    assert [child.exitcode for child in children] == [0, 0]

    assert_claimed_once_each(queued, claims)
    sizes = {owner: len(claimed) for owner, claimed in claims.items()}
    assert all(sizes.values()), f"both processes got jobs: {sizes}"
    with transaction(sessions) as session:
        finished = jobs.list_jobs(session)
    assert {(job.status, job.attempts) for job in finished} == {(JOB_SUCCEEDED, 1)}
    assert {job.id: job.owner for job in finished} == {i: o for o, claimed in claims.items() for i in claimed}


def test_threads_of_one_process_never_claim_a_job_twice(sessions: sessionmaker[Session]) -> None:
    queued = enqueue(sessions, JOB_COUNT)
    claims: dict[str, list[int]] = {}
    start = threading.Barrier(6)

    def work(owner: str) -> None:
        start.wait(timeout=30)
        claims[owner] = drain(sessions, owner)

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(claims) == 6
    assert_claimed_once_each(queued, claims)


def test_claims_take_the_oldest_job_of_the_given_kinds(sessions: sessionmaker[Session]) -> None:
    backup, create, restore = (enqueue(sessions, 1, kind=kind)[0] for kind in ("backup", "create", "restore"))

    def claimed_id(**options: Any) -> int | None:
        job = claim(sessions, "w", **options)
        return None if job is None else job.id

    assert claimed_id(kinds=["restore", "create"]) == create
    assert claimed_id(kinds=[]) is None
    assert claimed_id(kinds=["verify"]) is None
    assert claimed_id() == backup
    job = claim(sessions, "w")
    assert job is not None and job.id == restore
    assert (job.status, job.owner, job.attempts) == (JOB_RUNNING, "w", 1)
    assert job.lease_expires_at is not None and job.lease_expires_at.tzinfo is not None
    assert claim(sessions, "w") is None  # all three are running under live leases


def test_an_expired_lease_is_claimed_by_another_owner(sessions: sessionmaker[Session]) -> None:
    (job_id,) = enqueue(sessions, 1)
    first = claim(sessions, "cp-dead", lease_seconds=0.2)
    assert first is not None and first.attempts == 1
    assert claim(sessions, "cp-alive") is None  # the lease still runs
    time.sleep(0.4)

    second = claim(sessions, "cp-alive", lease_seconds=60)
    assert second is not None and second.id == job_id
    assert (second.owner, second.attempts, second.status) == ("cp-alive", 2, JOB_RUNNING)

    with transaction(sessions) as session:
        # The first owner wakes up: it has lost the job, and cannot finish it.
        assert not jobs.renew_lease(session, job_id=job_id, owner="cp-dead", lease_seconds=60)
        with pytest.raises(jobs.LeaseLost):
            jobs.finish_job(session, job_id=job_id, owner="cp-dead")
        assert jobs.renew_lease(session, job_id=job_id, owner="cp-alive", lease_seconds=60)
        jobs.finish_job(session, job_id=job_id, owner="cp-alive", error="pg_ctl: could not start server")
    with transaction(sessions) as session:
        (done,) = jobs.list_jobs(session)
    assert (done.status, done.owner, done.error, done.lease_expires_at) == (
        JOB_FAILED,
        "cp-alive",
        "pg_ctl: could not start server",
        None,
    )
    assert done.finished_at is not None
    with transaction(sessions) as session:
        assert not jobs.renew_lease(session, job_id=job_id, owner="cp-alive", lease_seconds=60)


def test_a_renewed_lease_keeps_the_job(sessions: sessionmaker[Session]) -> None:
    enqueue(sessions, 1)
    job = claim(sessions, "cp-busy", lease_seconds=0.5)
    assert job is not None
    for _ in range(4):
        time.sleep(0.2)
        with transaction(sessions) as session:
            assert jobs.renew_lease(session, job_id=job.id, owner="cp-busy", lease_seconds=0.5)
        assert claim(sessions, "cp-other") is None
    with transaction(sessions) as session:
        renewed = jobs.list_jobs(session)[0]
    assert job.lease_expires_at is not None and renewed.lease_expires_at is not None
    assert renewed.lease_expires_at > job.lease_expires_at + timedelta(seconds=0.6)


def test_a_job_of_a_killed_control_plane_resumes_elsewhere(catalog_url: str, sessions: sessionmaker[Session]) -> None:
    """kill -9 leaves the job running under a lease nobody renews; it is claimed again once that expires."""
    (job_id,) = enqueue(sessions, 1)
    script = textwrap.dedent(
        f"""
        import sys, time
        from controlplane.catalog.db import make_engine, session_factory, transaction
        from controlplane.catalog.jobs import claim_job
        sessions = session_factory(make_engine({catalog_url!r}))
        with transaction(sessions) as session:
            job = claim_job(session, owner="cp-killed", lease_seconds=2)
        print(job.id, flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == str(job_id)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    assert claim(sessions, "cp-survivor") is None  # the dead owner's lease has not expired yet
    deadline = time.monotonic() + 30
    while (job := claim(sessions, "cp-survivor")) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job is not None and job.id == job_id
    assert (job.owner, job.attempts) == ("cp-survivor", 2)


def test_claim_on_postgresql_skips_rows_locked_by_an_open_claim(catalog_url: str, engine: Engine) -> None:
    """A claim not yet committed does not make other claimers wait: they take the next job."""
    if not catalog_url.startswith("postgresql"):
        pytest.skip("SQLite has one write lock: a second claimer waits for the first transaction instead")
    sessions = session_factory(engine)
    first_id, second_id = enqueue(sessions, 2)
    with transaction(sessions) as holding:
        held = jobs.claim_job(holding, owner="slow", lease_seconds=60)
        assert held is not None and held.id == first_id
        other = claim(sessions, "fast")
        assert other is not None and other.id == second_id
    assert claim(sessions, "fast") is None


def test_fail_active_list_and_release(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        first = jobs.enqueue_job(session, kind="create_service", project="acme", service_id=None, payload={"a": 1})
        second = jobs.enqueue_job(session, kind="backup", project="acme", service_id=None)
        assert first.payload == {"a": 1} and second.payload == {}
        assert (first.status, first.attempts, first.owner, first.lease_expires_at) == (JOB_QUEUED, 0, None, None)
    running = claim(sessions, "cp-old")
    assert running is not None and running.id == first.id

    with transaction(sessions) as session:
        assert [j.id for j in jobs.list_jobs(session, statuses=[JOB_RUNNING])] == [first.id]
        assert [j.id for j in jobs.list_jobs(session)] == [first.id, second.id]
        # A restarted embedded control plane releases what its previous life was running.
        assert jobs.release_all_leases(session) == 1
    with transaction(sessions) as session:
        assert [(j.status, j.owner, j.attempts) for j in jobs.list_jobs(session)] == [
            (JOB_QUEUED, None, 1),
            (JOB_QUEUED, None, 0),
        ]
        jobs.fail_job(session, job_id=second.id, error="the service is gone")
        jobs.fail_job(session, job_id=second.id, error="again")  # a finished job stays as it is
    with transaction(sessions) as session:
        failed = jobs.list_jobs(session, statuses=[JOB_FAILED])
    assert [(j.id, j.error) for j in failed] == [(second.id, "the service is gone")]
    again = claim(sessions, "cp-new")
    assert again is not None and (again.id, again.attempts) == (first.id, 2)


def test_active_job_for_service(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        service = new_service(session)
        assert jobs.active_job_for_service(session, service_id=service.id) is None
        create = jobs.enqueue_job(session, kind="create_service", project="acme", service_id=service.id)
        jobs.enqueue_job(session, kind="backup", project="acme", service_id=service.id)
        other = jobs.enqueue_job(session, kind="noop", project="acme", service_id=None)
    with transaction(sessions) as session:
        active = jobs.active_job_for_service(session, service_id=service.id)
        assert active is not None and active.id == create.id
        assert [j.kind for j in jobs.list_jobs(session, service_id=service.id)] == ["create_service", "backup"]
        for job in jobs.list_jobs(session, service_id=service.id):
            jobs.fail_job(session, job_id=job.id, error="stop")
    with transaction(sessions) as session:
        assert jobs.active_job_for_service(session, service_id=service.id) is None
        assert [j.id for j in jobs.list_jobs(session, statuses=[JOB_QUEUED])] == [other.id]


def enqueue_backups(sessions: sessionmaker[Session], *names: str) -> dict[str, list[int]]:
    """A take_backup job of each named service (of project acme, created if new), in that order."""
    queued: dict[str, list[int]] = {}
    with transaction(sessions) as session:
        for name in names:
            service = services.get_service(session, project="acme", name=name) or new_service(session, name=name)
            job = jobs.enqueue_job(session, kind=TAKE_BACKUP, project="acme", service_id=service.id)
            queued.setdefault(name, []).append(job.id)
    return queued


def test_a_service_runs_one_backup_at_a_time(sessions: sessionmaker[Session]) -> None:
    queued = enqueue_backups(sessions, "db1", "db1", "db1", "db2")
    (other,) = enqueue(sessions, 1)
    db1, db2 = queued["db1"], queued["db2"]

    def claimed(owner: str = "w", **options: Any) -> int | None:
        job = claim(sessions, owner, **options)
        return None if job is None else job.id

    # db1's second and third backups wait for its first; db2's and other work go ahead.
    assert [claimed(), claimed(), claimed(), claimed()] == [db1[0], db2[0], other, None]
    with transaction(sessions) as session:  # the first backup's worker died and its lease lapsed
        session.execute(update(Job).where(Job.id == db1[0]).values(lease_expires_at=now(session)))
    assert claimed("w2") == db1[0]  # taken again, alone
    assert claimed("w2") is None
    with transaction(sessions) as session:
        jobs.finish_job(session, job_id=db1[0], owner="w2", error="pgbackrest: unable to find primary")
    assert [claimed(), claimed()] == [db1[1], None]
    with transaction(sessions) as session:
        jobs.finish_job(session, job_id=db1[1], owner="w")
    assert [claimed(), claimed()] == [db1[2], None]


def test_concurrent_claims_never_run_two_backups_of_a_service(catalog_url: str, engine: Engine) -> None:
    """A claim not yet committed holds the service's backups: another claimer, which still sees them
    all queued, waits for it and then takes other work rather than the service's next backup."""
    if not catalog_url.startswith("postgresql"):
        pytest.skip("SQLite has one write lock: a second claimer waits for the whole first transaction")
    sessions = session_factory(engine)
    queued = enqueue_backups(sessions, "db1", "db1", "db2")
    result: list[Job | None] = []
    with transaction(sessions) as holding:
        held = jobs.claim_job(holding, owner="slow", lease_seconds=60)
        assert held is not None and held.id == queued["db1"][0]
        claimer = threading.Thread(target=lambda: result.append(claim(sessions, "fast")))
        claimer.start()
        # Observed, not slept on: commit once the other claimer waits for a lock (on db1's row).
        while claimer.is_alive() and not _waiting_for_a_lock(engine):
            time.sleep(0.01)
    claimer.join(timeout=30)
    assert [job.id if job else None for job in result] == [queued["db2"][0]]
    assert claim(sessions, "fast") is None


def _waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def test_claims_serve_the_project_with_the_fewest_running_jobs_first(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        busy = [jobs.enqueue_job(session, kind="noop", project="busy", service_id=None).id for _ in range(4)]
        (quiet,) = [jobs.enqueue_job(session, kind="fork_service", project="quiet", service_id=None).id]
        late = jobs.enqueue_job(session, kind="noop", project="late", service_id=None).id
    order = [job.id for job in iter(lambda: claim(sessions, "w"), None)]
    # Oldest first among the projects with as few running jobs; then by age again as they tie.
    assert order == [busy[0], quiet, late, busy[1], busy[2], busy[3]]


def test_a_deletion_waits_in_the_queue_for_the_jobs_of_its_service_before_it(sessions: sessionmaker[Session]) -> None:
    takes = enqueue_backups(sessions, "db1", "db1")["db1"]
    with transaction(sessions) as session:
        db1 = services.get_service(session, project="acme", name="db1")
        assert db1 is not None
        delete_backup = jobs.enqueue_job(session, kind=DELETE_BACKUP, project="acme", service_id=db1.id).id
        delete_service = jobs.enqueue_job(session, kind=DELETE_SERVICE, project="acme", service_id=db1.id).id
    (other,) = enqueue(sessions, 1)

    def claimed(owner: str = "w") -> int | None:
        job = claim(sessions, owner)
        return None if job is None else job.id

    # While db1's first backup runs, its second waits, and so do the deletions: no worker is held by them.
    assert [claimed(), claimed(), claimed()] == [takes[0], other, None]
    for take in takes:
        with transaction(sessions) as session:
            jobs.finish_job(session, job_id=take, owner="w")
        assert claimed() == (takes[1] if take == takes[0] else delete_backup)
    assert claimed() is None, "the service's deletion waits for the backup's"
    with transaction(sessions) as session:
        jobs.finish_job(session, job_id=delete_backup, owner="w", error="pgbackrest: expire failed")
    assert claimed() == delete_service, "a failed job has ended too"
