"""Backup to another region (Aiven): copy each service's repositories to its additional backup regions.

A thread of the control plane makes a pass every `replication_interval` seconds, and at once when a
backup succeeds: for every service with `user_config.additional_backup_regions`, each of its
repositories is copied (controlplane/storage/repository_copy.py) to the same container of every such
region (`Archiving.location`: a directory of the region's store, or a bucket of its S3 endpoint). A
new WAL segment is therefore seen within a pass; a full comparison (a sweep) runs every
`_SWEEP_SECONDS`. Each backup's copies are rows with a state (Pending, Replicating, Succeeded, Failed);
the lag of each (service, region) is sampled every `lag_sample_seconds` and kept for `_SAMPLE_DAYS`.

The lag is measured against the primary store: how long the oldest object that the copy still lacks
has been in the primary store (0 when the copy has everything). A copy that keeps failing lets the
lag grow, with the reason in the samples; the primary is never touched. When the target cannot even
be listed, the lag counts from what the last pass found missing, or from when the copy was last
complete: it may overstate, never hide, a fault. Every hour, what interrupted copies left in the targets
(temporary files, unfinished uploads) is removed. A region's `copy_bandwidth` caps the bytes per second that this
control plane's copies write into it (controlplane/storage/bandwidth.py), all copy threads together.

One pass per stanza at a time, across every control plane sharing the catalog, under `copy_lock` (a catalog
lease), which backup deletion also takes (controlplane/jobs/backup_jobs.py): a copy never resurrects a backup
that is being expired. A pass does not wait for a stanza another control plane is copying: it leaves that
stanza (and its lag samples) to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import backups, expiries, leases, replication, repositories, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Backup, BackupReplica, Service
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.engines import CopyPlan, StanzaCopier
from controlplane.jobs.expiry import Expiries
from controlplane.jobs.stanza_copiers import COPIERS
from controlplane.settings import Settings
from controlplane.storage.bandwidth import Bandwidth
from controlplane.storage.repository_copy import CopyCancelled, SourceChanged
from controlplane.storage.stores import StoreUnavailable

log = logging.getLogger(__name__)
_SWEEP_SECONDS = 60.0
# What interrupted copies leave is removed once it is an hour old (younger may be a live copy's): sweeping the
# targets for it more often than hourly would find nothing more, and a directory's sweep walks its whole tree.
_TEMPORARY_SWEEP_SECONDS = 3600.0
_SAMPLE_DAYS = 400  # a year's report, and some
_PRUNE_SECONDS = 3600.0
STATUS_OK, STATUS_FAILING = "ok", "failing"


@dataclass(frozen=True)
class CopyTarget:
    """One repository of a service and where its copy in one region lives."""

    service_id: int
    service: str  # project/name, for messages
    stanza: str
    source: str  # the repository's location (a catalog repo_path)
    region: str
    target: str  # the location of its copy in `region`
    copier: StanzaCopier  # the service's engine's (stanza_copiers.py)

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.service_id, self.source, self.region)

    def plan(self, archiving: Archiving, *, known: Collection[str] = ()) -> CopyPlan:
        """What the copy lacks now (StoreUnavailable: a store cannot be listed)."""
        source, target = archiving.repository(self.source), archiving.repository(self.target)
        return self.copier.plan(source, target, self.stanza, known=known)

    def copy(
        self,
        archiving: Archiving,
        plan: CopyPlan,
        *,
        workers: int = 2,
        cancel: threading.Event | None = None,
        bandwidth: Bandwidth | None = None,
    ) -> None:
        """Carry out `plan` (the copier's errors: StoreUnavailable, SourceChanged, CopyCancelled)."""
        source, target = archiving.repository(self.source), archiving.repository(self.target)
        self.copier.run(plan, source, target, self.stanza, workers=workers, cancel=cancel, bandwidth=bandwidth)


@dataclass
class _Progress:
    """What a pass left behind for one copy target: the sampler's and the next pass's memory."""

    known: set[str] = field(default_factory=set)
    peak_lag: float = 0.0  # the largest lag a pass found since the last sample
    error: str | None = None
    oldest_pending: float | None = None  # what the last plan found missing
    complete_at: float | None = None  # when a plan last found the copy complete
    passes: int = 0  # passes this control plane made since the last sample (none: another one copies it)


def copy_targets(settings: Settings, archiving: Archiving, session: Session, service: Service) -> list[CopyTarget]:
    """Every (repository, additional region) pair of the service; none when the feature is off."""
    regions = [r for r in (service.user_config or {}).get("additional_backup_regions") or [] if settings.region(r)]
    found = []
    for repo in repositories.list_repositories(session, service_id=service.id):
        if settings.region(repo.region) is None:
            continue  # a region no longer configured: its store cannot be reached
        for name in regions:
            if name == repo.region:
                continue
            found.append(
                CopyTarget(
                    service_id=service.id,
                    service=f"{service.project}/{service.name}",
                    stanza=archiving.stanza_name(service),
                    source=repo.path,
                    region=name,
                    target=archiving.location(name, service.project, repo.container),
                    copier=COPIERS[service.service_type],
                )
            )
    return found


class Replicator:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], archiving: Archiving) -> None:
        self._settings = settings
        self._sessions = sessions
        self._archiving = archiving
        self._expiries = Expiries(settings, archiving)
        self._progress: dict[tuple[int, str, str], _Progress] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._last_sweep = 0.0
        self._last_temporary_sweep = 0.0
        self._last_sample = 0.0
        self._last_prune = 0.0
        self._sampled: set[tuple[int, str, str]] = set()  # sampled at least once: a new copy gets a sample at once
        self._thread: threading.Thread | None = None
        # One budget per capped region, shared by every copy into it from this control plane.
        self._bandwidth = {
            region.name: Bandwidth(region.copy_bandwidth) for region in settings.regions if region.copy_bandwidth
        }

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="region-replicator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        """Copy now (a backup succeeded) instead of at the next pass."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._settings.replication_interval)
            self._wake.clear()
            try:
                self.run_once()
            except Exception:
                log.exception("replication pass failed; trying again at the next one")

    def run_once(self) -> None:
        """One pass over every service with additional backup regions (and the sampling that is due)."""
        clock = time.monotonic()
        sweep = clock - self._last_sweep >= _SWEEP_SECONDS
        sample = clock - self._last_sample >= self._settings.lag_sample_seconds
        with transaction(self._sessions) as session:
            targets = [
                target
                for service in services.list_services(session)
                if service.state != "DELETING"
                for target in copy_targets(self._settings, self._archiving, session, service)
            ]
        for target in targets:
            if self._stopping.is_set():
                return
            self._copy(target, sweep=sweep)
        if sweep:
            self._last_sweep = clock
            # Forget what no longer needs copying (feature off, service gone).
            wanted = {target.key for target in targets}
            self._progress = {key: value for key, value in self._progress.items() if key in wanted}
        if clock - self._last_temporary_sweep >= _TEMPORARY_SWEEP_SECONDS:
            self._last_temporary_sweep = clock
            self._sweep_temporary({target.target for target in targets})
        if sample or any(target.key not in self._sampled for target in targets):
            self._last_sample = clock
            self._sample(targets)
            self._sampled = {target.key for target in targets}
        if clock - self._last_prune >= _PRUNE_SECONDS:
            self._last_prune = clock
            with transaction(self._sessions) as session:
                replication.prune_lag_samples(session, before=int(time.time()) - _SAMPLE_DAYS * 86400)

    def _sweep_temporary(self, locations: set[str]) -> None:
        """Remove what interrupted copies left in each target (temporary files, unfinished uploads)."""
        for location in sorted(locations):
            try:
                self._archiving.repository(location).sweep_temporary()
            except StoreUnavailable as exc:
                log.info("what interrupted copies left in %s stays until the next sweep: %s", location, exc)

    def _copy(self, target: CopyTarget, *, sweep: bool) -> None:
        with ExitStack() as held:
            try:
                held.enter_context(self._archiving.copy_lock(target.stanza, timeout=0, cancel=self._stopping))
            except (leases.LeaseTimeout, leases.LeaseCancelled):
                return  # another control plane is copying the stanza (or we are stopping)
            copied = self._copy_held(target, sweep=sweep)
        if copied and self._owes_expiry(target):
            # A deletion that had to wait until this copy held a newer full backup can be done now (outside the
            # copy lease, which the expiry takes itself).
            self._expiries.settle(self._sessions, target.stanza)

    def _owes_expiry(self, target: CopyTarget) -> bool:
        with transaction(self._sessions) as session:
            owed = expiries.deferred_expiries(session, stanza=target.stanza)
            return any(expiry.repo_path == target.target for expiry in owed)

    def _copy_held(self, target: CopyTarget, *, sweep: bool) -> bool:
        """One pass for `target`; whether it copied something and the copy is now complete."""
        progress = self._progress.setdefault(target.key, _Progress())
        progress.passes += 1
        try:
            plan = target.plan(self._archiving, known=() if sweep else progress.known)
        except StoreUnavailable as exc:
            now = time.time()
            since = progress.oldest_pending or progress.complete_at or now
            progress.peak_lag = max(progress.peak_lag, now - since)
            self._failed(target, progress, exc)
            return False
        oldest = plan.oldest_pending()
        now = time.time()
        progress.peak_lag = max(progress.peak_lag, now - oldest if oldest is not None else 0.0)
        progress.oldest_pending = oldest
        if oldest is None:
            progress.complete_at = now
        self._mark_pending(target, plan, healthy=progress.error is None)
        if plan.up_to_date and progress.error is None:
            return False
        try:
            target.copy(
                self._archiving,
                plan,
                workers=self._settings.replication_workers,
                cancel=self._stopping,
                bandwidth=self._bandwidth.get(target.region),
            )
        except SourceChanged as exc:
            log.info("copy of %s to %s starts over: %s", target.service, target.region, exc)
            return False
        except CopyCancelled:
            return False
        except StoreUnavailable as exc:
            self._failed(target, progress, exc)
            return False
        progress.known.update(item.key for item in plan.pending)
        if progress.error is not None:
            log.info("copy of %s to %s caught up", target.service, target.region)
        progress.error = None
        self._mark_succeeded(target, plan)
        return True

    def _failed(self, target: CopyTarget, progress: _Progress, exc: StoreUnavailable) -> None:
        message = f"copy to region {target.region} failed: {exc}"
        if progress.error != message:
            log.warning("%s (service %s)", message, target.service)
        progress.error = message
        progress.known.clear()
        self._mark_failed(target, message)

    def _mark_pending(self, target: CopyTarget, plan: CopyPlan, *, healthy: bool) -> None:
        """A Pending row for every backup of the repository the region lacks; Replicating while copied.

        A copy already complete (made before a restart of the control plane, say) is Succeeded at once.
        """
        with transaction(self._sessions) as session:
            for backup, replica in self._replicas(session, target):
                if replica.state in ("Pending", "Replicating") and backup.label in plan.labels:
                    if plan.up_to_date and healthy:
                        replication.update_replica(
                            session, replica=replica, state="Succeeded", state_message=None,
                            replicated_at=datetime.now(UTC),
                        )  # fmt: skip
                    elif replica.state == "Pending":
                        replication.update_replica(session, replica=replica, state="Replicating")

    def _mark_succeeded(self, target: CopyTarget, plan: CopyPlan) -> None:
        with transaction(self._sessions) as session:
            for backup, replica in self._replicas(session, target):
                if backup.label in plan.labels and replica.state != "Succeeded":
                    replication.update_replica(
                        session, replica=replica, state="Succeeded", state_message=None,
                        replicated_at=datetime.now(UTC),
                    )  # fmt: skip

    def _mark_failed(self, target: CopyTarget, message: str) -> None:
        """Copies not made yet fail; a copy that was made stays Succeeded while its manifest is there (a
        target that cannot be listed shows none)."""
        try:
            copied = target.copier.copied_labels(self._archiving.repository(target.target), target.stanza)
        except StoreUnavailable:
            copied = set()
        with transaction(self._sessions) as session:
            for backup, replica in self._replicas(session, target):
                if replica.state == "Succeeded" and backup.label in copied:
                    continue
                replication.update_replica(session, replica=replica, state="Failed", state_message=message)

    def _replicas(self, session: Session, target: CopyTarget) -> list[tuple[Backup, BackupReplica]]:
        """The owned, succeeded backups kept in the target's source repository, with their copy's row.

        Runs every pass: the existing rows come in one query, only a missing row costs an insert.
        """
        kept = [
            backup
            for backup in backups.list_backups(session, service_id=target.service_id, states=("Succeeded",))
            if backup.owned and backup.label and backup.repo_path == target.source
        ]
        existing = replication.replicas_of(session, backup_ids=[backup.id for backup in kept])
        found = []
        for backup in kept:
            replica = next((r for r in existing[backup.id] if r.region == target.region), None)
            if replica is None:
                replica = replication.ensure_replica(
                    session, backup_id=backup.id, region=target.region, repo_path=target.target
                )
            found.append((backup, replica))
        return found

    def _sample(self, targets: list[CopyTarget]) -> None:
        """One lag sample per (service, region): the worst of the service's repositories."""
        now = time.time()
        worst: dict[tuple[int, str], tuple[float, str, str | None]] = {}
        for target in targets:
            progress = self._progress.setdefault(target.key, _Progress())
            if progress.passes == 0 and target.key in self._sampled:
                continue  # another control plane copied it since the last sample: its samples tell the lag
            progress.passes = 0
            lag, progress.peak_lag = max(0.0, progress.peak_lag), 0.0
            status = STATUS_FAILING if progress.error else STATUS_OK
            key = (target.service_id, target.region)
            if key not in worst or lag > worst[key][0] or status == STATUS_FAILING:
                worst[key] = (lag, status, progress.error)
        with transaction(self._sessions) as session:
            for (service_id, region), (lag, status, message) in worst.items():
                replication.add_lag_sample(
                    session, service_id=service_id, region=region, sampled_at=int(now), lag_seconds=round(lag, 3),
                    status=status, message=message,
                )  # fmt: skip
