"""Runs queued jobs on worker threads, holding a renewable lease on each.

A job is claimed in the catalog (FOR UPDATE SKIP LOCKED on PostgreSQL), so control-plane processes
sharing a catalog never run the same job; a process that dies stops renewing its lease and the job
is claimed again and resumed by whoever comes next. Handlers are therefore idempotent.

Idle workers do not all poll the catalog (each claim is a write transaction): one of them at a time looks
every `POLL_SECONDS` for work nobody woke us for (another control plane's, an expired lease); the others sleep
until woken. New work wakes one worker, and a worker that claims a job wakes the next, so a queue of jobs is
taken up by as many workers as it needs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import jobs as job_catalog
from controlplane.catalog.db import transaction
from controlplane.catalog.leases import process_holder

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class JobContext:
    job_id: int
    kind: str
    project: str
    service_id: int | None
    payload: Mapping[str, Any]
    attempt: int
    sessions: sessionmaker[Session]
    cancel: threading.Event  # set when the runner stops or the lease is lost

    def wait_until(
        self, done: Callable[[], bool], failure: str, *, timeout: float = math.inf, interval: float = 0.1
    ) -> None:
        """Poll `done` until it is true; TimeoutError naming `failure` after `timeout` seconds, or at once when
        the job is cancelled (the control plane stops, the lease was lost)."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{failure} within {timeout:.0f} s")
            if self.cancel.wait(interval):
                raise TimeoutError(f"{failure}: the job was cancelled")


Handler = Callable[[JobContext], None]
FailureHook = Callable[[JobContext, str], None]


class JobRunner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        handlers: Mapping[str, Handler],
        *,
        workers: int = 4,
        lease_seconds: float = 30.0,
        on_failure: FailureHook | None = None,
    ) -> None:
        # host:pid:random, as the catalog leases' holders: an operator (or a test) sees which process of
        # which host runs a job; the random part keeps a restart that reuses the pid from taking old claims.
        self.owner = process_holder()
        self._sessions = sessions
        self._handlers = dict(handlers)
        self._workers = workers
        self._lease_seconds = lease_seconds
        self._on_failure = on_failure
        self._wake = threading.Condition()
        self._someone_polls = False  # an idle worker looks at the catalog every POLL_SECONDS
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"job-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """New work was queued: a worker looks now rather than at the next poll (and wakes the next if it
        finds some)."""
        with self._wake:
            self._wake.notify()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                ran = self._run_one()
            except Exception:  # the catalog was unreachable: keep the worker alive and retry
                log.exception("job worker could not claim work")
                ran = False
            if not ran:
                self._idle()

    def _idle(self) -> None:
        with self._wake:
            if self._stopping.is_set():
                return
            polls = not self._someone_polls
            self._someone_polls = self._someone_polls or polls
            try:
                self._wake.wait(POLL_SECONDS if polls else None)
            finally:
                if polls:
                    self._someone_polls = False

    def _run_one(self) -> bool:
        with transaction(self._sessions) as session:
            job = job_catalog.claim_job(
                session, owner=self.owner, lease_seconds=self._lease_seconds, kinds=list(self._handlers)
            )
            if job is None:
                return False
            context = JobContext(
                job.id,
                job.kind,
                job.project,
                job.service_id,
                dict(job.payload or {}),
                job.attempts,
                self._sessions,
                threading.Event(),
            )
        self.wake()  # claimed (committed): there may be more, the next idle worker looks
        if context.attempt > MAX_ATTEMPTS:
            self._fail(context, f"{context.kind} was interrupted {MAX_ATTEMPTS} times; giving up")
            return True
        heartbeat = threading.Thread(target=self._renew, args=(context,), daemon=True)
        heartbeat.start()
        started = time.monotonic()
        try:
            log.info(
                "running %s job %d of project %s (attempt %d)", context.kind, context.job_id, context.project,
                context.attempt,
            )  # fmt: skip
            self._handlers[context.kind](context)
        except Exception as err:
            log.exception("%s job %d failed", context.kind, context.job_id)
            self._fail(
                context, f"{type(err).__name__}: {err}" if not str(err).startswith(type(err).__name__) else str(err)
            )
        else:
            with transaction(self._sessions) as session:
                job_catalog.finish_job(session, job_id=context.job_id, owner=self.owner)
            log.info("%s job %d finished in %.2f s", context.kind, context.job_id, time.monotonic() - started)
        finally:
            context.cancel.set()
        return True

    def _fail(self, context: JobContext, message: str) -> None:
        with transaction(self._sessions) as session:
            job_catalog.finish_job(session, job_id=context.job_id, owner=self.owner, error=message)
        if self._on_failure is not None:
            self._on_failure(context, message)

    def _renew(self, context: JobContext) -> None:
        while not context.cancel.wait(self._lease_seconds / 3):
            try:
                with transaction(self._sessions) as session:
                    kept = job_catalog.renew_lease(
                        session, job_id=context.job_id, owner=self.owner, lease_seconds=self._lease_seconds
                    )
            except Exception:
                log.exception("could not renew the lease of job %d", context.job_id)
                continue
            if not kept:
                log.warning("lost the lease of job %d; another control plane took it", context.job_id)
                context.cancel.set()
