"""Bringing a running service's WAL to its archive now, instead of at the next `archive_timeout`.

Committed work may sit in a half-filled WAL segment for up to a minute before the server switches and
archives it. A fork at the latest transaction, a point in time seconds old and a service's deletion all
need it archived now: the current segment is switched out, then we wait until the repository holds it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from controlplane.engine.postgres import Postgres
from controlplane.jobs.runner import JobContext
from controlplane.storage.repository_copy import holds_wal
from controlplane.storage.stores import Repository, StoreUnavailable

log = logging.getLogger(__name__)


def switch_wal(postgres: Postgres, user: str, *, commit_first: bool) -> str:
    """Close the current WAL segment so that it is archived; return its name.

    With `commit_first`, an empty transaction is committed before: recovery to a point in time stops at the
    first commit after the target, so the archive must hold one.
    """
    if commit_first:
        postgres.psql("SELECT txid_current()", user=user)
    # pg_walfile_name() of the switch point names the segment just closed, or, when nothing was written
    # since the last switch, the one closed then.
    return postgres.psql("SELECT pg_walfile_name(pg_switch_wal())", user=user)


def wait_for_wal(
    repositories: Iterable[Repository], stanza: str, segment: str, context: JobContext, timeout: float = 600
) -> None:
    """Wait until every repository's archive of the stanza holds `segment`."""
    waited = list(repositories)

    def reached() -> bool:
        try:
            return all(holds_wal(repository, stanza, segment) for repository in waited)
        except StoreUnavailable as exc:  # a store down for a moment: the wait goes on, its deadline stands
            log.info("waiting for WAL segment %s of %s: %s", segment, stanza, exc)
            return False

    context.wait_until(
        reached,
        f"WAL segment {segment} of {stanza} did not reach {', '.join(r.location for r in waited)}",
        timeout=timeout,
    )
