"""The control plane's REST API (docs/design.md) as plain method calls: JSON dicts in and out, named as the API
names them; errors as `provider.client.errors` exceptions.

One `Client` per configured provider, shared by every resource: it holds one pool of connections and
the lists that serve a whole plan (`refreshed_backup`, `known_regions`), both safe to share, so Terraform's
parallel operations (up to 10 at once) use it from their own threads. Transient failures are retried
here (see `Client.request`), so resources never retry.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlencode

from provider.client import models
from provider.client.connections import Answer, ConnectFailed, NoAnswer, Pool, TransportError
from provider.client.errors import (
    AlreadyExists,
    ApiError,
    Cancelled,
    Conflict,
    Failed,
    NotFound,
    Timeout,
    Unreachable,
    error_from_answer,
)
from provider.client.once import OncePerKey
from provider.client.waiting import wait_for
from provider.uuid4 import uuid4

# The errors are re-exported: `from provider.client.api import Client, NotFound` is the one import callers need.
__all__ = [
    "AlreadyExists",
    "ApiError",
    "Cancelled",
    "Client",
    "Conflict",
    "Failed",
    "NotFound",
    "Timeout",
    "Unreachable",
]

log = logging.getLogger(__name__)

KEYED = frozenset({"POST", "PUT"})  # sent with an Idempotency-Key
IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_DELAY = 30.0  # seconds: the longest pause between two attempts, Retry-After included
Obj = TypeVar("Obj", bound=Mapping[str, Any])  # an object of the control plane, as waits return it
LIST_PAGE_SIZE = 1000  # the control plane's largest page: a list costs as few requests as it can


class Client:
    """The control plane at `endpoint`, spoken to with a project `token` (None: no Authorization header)."""

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        user_agent: str = "terraform-provider-dbaas",
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"the control plane endpoint must be an http:// or https:// URL, got {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        token = (token or "").strip()  # a token read from a file keeps its newline
        self._token_given = bool(token)
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        # Terraform runs 10 operations at once by default; more wait for a connection. `request` retries.
        self._http = Pool(self.endpoint, timeout=timeout, size=32)
        self._backup_lists: OncePerKey[tuple[str, str], dict[str, models.Backup]] = OncePerKey()
        self._region_list: OncePerKey[None, list[models.Region]] = OncePerKey()

    def close(self) -> None:
        """Close the pooled connections; the client is unusable afterwards."""
        self._http.close()

    @property
    def closed(self) -> bool:
        return self._http.closed

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- low level -------------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Any:
        return self.request("PUT", path, body=body, headers=headers)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str) -> Any:
        """The answer's body (202 answers carry the object being deleted), or None for 204."""
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request, retrying what is safe to retry, and return the decoded JSON answer (None if empty).

        POST and PUT carry an `Idempotency-Key`, one per call, the same on every retry of it: the control
        plane answers a retried create with the object the first attempt made (docs/design.md), so a create
        whose answer was lost is neither duplicated nor refused as a duplicate of itself (409). Every
        method is therefore retried the same way: a connection failure, a timeout, a 5xx or a 429, up to
        `retries` times with exponential backoff and jitter (honouring Retry-After). 4xx answers are final.
        """
        query = {key: value for key, value in (params or {}).items() if value is not None}
        target = f"{path}?{urlencode(query, doseq=True)}" if query else path
        payload = json.dumps(dict(body)).encode() if body is not None else None
        sent = {**self._headers, **(headers or {})}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        if method in KEYED:
            sent[IDEMPOTENCY_KEY] = uuid4()
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self._http.request(method, target, payload, sent)
            except TransportError as err:
                if attempt <= self.retries and _may_retry_failure(err):
                    self._pause(method, path, attempt, f"{type(err).__name__}: {_reason(err)}", None)
                    continue
                raise self._unreachable(method, path, err, attempt) from err
            status = response.status
            log.debug("%s %s -> %d (%.0f ms)", method, path, status, (time.monotonic() - started) * 1e3)
            if 200 <= status < 300:
                return self._decode(method, path, response)
            if (status == 429 or status >= 500) and attempt <= self.retries:
                self._pause(method, path, attempt, f"HTTP {status}", response.headers.get("Retry-After"))
                continue
            error = error_from_answer(status, response.reason, response.body, token_given=self._token_given)
            if attempt > 1:
                error.message = f"{error.message} (after {attempt} attempts)"
                error.args = (error.message,)
            raise error

    def _pause(self, method: str, path: str, attempt: int, why: str, retry_after: str | None) -> None:
        delay = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)  # jitter: parallel callers spread
        if retry_after is not None and retry_after.strip().isdigit():
            delay = max(delay, float(retry_after))
        delay = min(delay, MAX_DELAY)
        log.warning("%s %s: %s; retry %d of %d in %.1f s", method, path, why, attempt, self.retries, delay)
        time.sleep(delay)

    def _decode(self, method: str, path: str, response: Answer) -> Any:
        if response.status == 204 or not response.body:
            return None
        try:
            return json.loads(response.body)
        except ValueError:
            raise ApiError(
                response.status,
                "bad_response",
                f"{self.endpoint} answered {method} {path} with something that is not JSON; is it the dbaas "
                "control plane?",
            ) from None

    def _unreachable(self, method: str, path: str, err: TransportError, attempts: int) -> Unreachable:
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        if isinstance(err, ConnectFailed):
            reason = _reason(err)
            check = (
                "that this machine trusts the control plane's certificate (the system's store, or SSL_CERT_FILE)"
                if _is_tls_failure(err)
                else "the provider's `endpoint` (env DBAAS_ENDPOINT) and that the control plane is running"
            )
            return Unreachable(
                f"cannot reach the control plane at {self.endpoint} ({method} {path}: {reason}; {tries}); check {check}"
            )
        if isinstance(err, NoAnswer):
            what = f"no answer within {self.timeout:g} s"
        else:
            what = f"connection lost: {_reason(err)}"
        maybe = "; it may have been carried out" if method == "POST" else ""
        return Unreachable(
            f"the control plane at {self.endpoint} did not complete {method} {path} ({what}; {tries}){maybe}"
        )

    # -- regions and services --------------------------------------------------------------------------

    def regions(self) -> list[models.Region]:
        """Every region services can run in and back up to, with the plans, service types and versions it offers."""
        return cast(list[models.Region], _items(self.get("/v1/regions"), "regions"))

    def known_regions(self) -> list[models.Region]:
        """`regions()` as this client first listed them: a plan checks every region, plan, service type and
        version against one list."""
        return self._region_list.get(None, self.regions)

    def service(self, project: str, name: str) -> models.Service | None:
        """The service, or None when it does not exist (or the token may not see it)."""
        return cast(models.Service | None, self._get_or_none(_service_path(project, name)))

    def create_service(self, project: str, body: Mapping[str, Any]) -> models.Service:
        """POST a service (or a fork, with `fork_from`); it answers at once in state REBUILDING."""
        resource_type = "dbaas_database_fork" if body.get("fork_from") else "dbaas_service"
        with _already_exists("name", resource_type, f"{project}/{body.get('name')}"):
            return cast(models.Service, _object(self.post(f"{_project_path(project)}/services", body)))

    def update_service(self, project: str, name: str, body: Mapping[str, Any]) -> models.Service:
        """PATCH `cloud`, `plan`, `user_config` or `termination_protection`; a plan or cloud change rebuilds."""
        return cast(models.Service, _object(self.patch(_service_path(project, name), body)))

    def delete_service(self, project: str, name: str) -> models.Service | None:
        """Start deleting the service (it answers in state DELETING); None if it is already gone."""
        try:
            return cast(models.Service, _object(self.delete(_service_path(project, name))))
        except NotFound:
            return None

    # -- backups ---------------------------------------------------------------------------------------

    def backups(
        self, project: str, service: str, *, state: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[models.Backup]:
        """The service's backups, oldest first, optionally only those in `state` carrying every label given.

        Every page of the list, following `next_page_token` to the last one.
        """
        label = [f"{key}={value}" for key, value in sorted((labels or {}).items())] or None
        found: list[models.Backup] = []
        page_token = None
        seen: set[str] = set()
        while True:
            query = {"state": state, "label": label, "page_size": LIST_PAGE_SIZE, "page_token": page_token}
            answer = self.get(_backups_path(project, service), query)
            found.extend(cast(list[models.Backup], _items(answer, "backups")))
            page_token = _object(answer).get("next_page_token")
            if not page_token:
                return found
            if page_token in seen:  # a control plane that hands out a page twice would never end the list
                raise ApiError(200, "bad_response", "the control plane's backup list pages loop back")
            seen.add(page_token)

    def backup(self, project: str, service: str, name: str) -> models.Backup | None:
        """The backup as it is now, or None when it does not exist (or the token may not see it)."""
        return cast(models.Backup | None, self._get_or_none(f"{_backups_path(project, service)}/{_segment(name)}"))

    def refreshed_backup(self, project: str, service: str, name: str) -> models.Backup | None:
        """The backup as its service's list showed it when this client first refreshed a backup of that
        service (one list per service for a whole plan's refresh), or None when it does not exist: the list
        and a GET filter the catalog alike."""
        listed = self._backup_lists.get(
            (project, service), lambda: {backup["name"]: backup for backup in self.backups(project, service)}
        )
        return listed.get(name)

    def create_backup(self, project: str, service: str, body: models.BackupRequest) -> models.Backup:
        """Take a backup now (POST: the control plane names it yyyyMMddHHmmss unless the body names it)."""
        name = body.get("name")
        with _already_exists("name", "dbaas_backup", f"{project}/{service}/{name}") if name else nullcontext():
            return cast(models.Backup, _object(self.post(_backups_path(project, service), body)))

    def put_backup(self, project: str, service: str, name: str, body: models.BackupRequest) -> models.Backup:
        """Take a backup with this name, or register an existing one with `import_source`."""
        with _already_exists("name", "dbaas_backup", f"{project}/{service}/{name}"):
            return cast(models.Backup, _object(self.put(f"{_backups_path(project, service)}/{_segment(name)}", body)))

    def update_backup(self, project: str, service: str, name: str, body: models.BackupChange) -> models.Backup:
        """PATCH the description and labels, the only fields that change in place."""
        return cast(models.Backup, _object(self.patch(f"{_backups_path(project, service)}/{_segment(name)}", body)))

    def delete_backup(self, project: str, service: str, name: str) -> models.Backup | None:
        """Start deleting the backup and the incrementals built on it; None if already gone."""
        try:
            return cast(models.Backup, _object(self.delete(f"{_backups_path(project, service)}/{_segment(name)}")))
        except NotFound:
            return None

    # -- backup strategies (service None: the project's) -----------------------------------------------

    def strategy(self, project: str, service: str | None) -> models.Strategy | None:
        """The strategy, or None when there is none."""
        return cast(models.Strategy | None, self._get_or_none(_strategy_path(project, service)))

    def put_strategy(
        self, project: str, service: str | None, body: models.StrategyPut, *, create_only: bool = False
    ) -> models.Strategy:
        """Replace the strategy, or create it; `create_only`: never replace one that exists (AlreadyExists)."""
        if not create_only:
            return cast(models.Strategy, _object(self.put(_strategy_path(project, service), body)))
        with _already_exists("service" if service else "project", "dbaas_backup_strategy", _scope_id(project, service)):
            answer = self.put(_strategy_path(project, service), body, {"If-None-Match": "*"})
            return cast(models.Strategy, _object(answer))

    def delete_strategy(self, project: str, service: str | None) -> None:
        """Delete the strategy; one that does not exist is no error."""
        try:
            self.delete(_strategy_path(project, service))
        except NotFound:
            pass

    # -- backup to another region ---------------------------------------------------------------------

    def replication_report(self, project: str, service: str, period: str) -> dict[str, Any]:
        """Per additional backup region: status, the lag now and the largest lag per bucket of `period`."""
        return _object(
            self.post(f"{_service_path(project, service)}/backup_to_another_region/report", {"period": period})
        )

    # -- waiting ---------------------------------------------------------------------------------------

    def wait(
        self,
        fetch: Callable[[], Obj | None],
        *,
        until: Collection[str],
        failed: Collection[str],
        timeout: float,
        stop: threading.Event | None,
        what: str,
        field: str = "state",
        interval: float = 1.0,
    ) -> Obj:
        """Poll `fetch()` until `obj[field]` is in `until`; see `provider.client.waiting.wait_for`."""
        return wait_for(
            fetch, until=until, failed=failed, timeout=timeout, stop=stop, what=what, field=field, interval=interval
        )

    def _get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return _object(self.get(path))
        except NotFound:
            return None


@contextmanager
def _already_exists(field: str, resource_type: str, import_id: str) -> Iterator[None]:
    """A create's 409 naming `field` is the object already existing: say how to import it instead."""
    try:
        yield
    except Conflict as err:
        if err.field != field:
            raise
        raise AlreadyExists(err, resource_type, import_id) from err


def _scope_id(project: str, service: str | None) -> str:
    return f"{project}/{service}" if service else project


def _may_retry_failure(err: TransportError) -> bool:
    # A TLS handshake that fails (a certificate refused by either side) fails the same way every time.
    return not _is_tls_failure(err)


def _is_tls_failure(err: TransportError) -> bool:
    return isinstance(err, ConnectFailed) and isinstance(err.__cause__, ssl.SSLError)


def _reason(err: TransportError) -> str:
    """What went wrong: the error behind `err`, by its text or, if it has none, its name."""
    cause = err.__cause__ or err
    return str(cause) or type(cause).__name__


def _segment(value: str) -> str:
    """One path segment, escaped: a name can never reach another route ('/', '?', '..')."""
    if not value:
        raise ValueError("an empty name cannot be part of a control-plane path")
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def _project_path(project: str) -> str:
    return f"/v1/projects/{_segment(project)}"


def _service_path(project: str, name: str) -> str:
    return f"{_project_path(project)}/services/{_segment(name)}"


def _backups_path(project: str, service: str) -> str:
    return f"{_service_path(project, service)}/backups"


def _strategy_path(project: str, service: str | None) -> str:
    scope = _project_path(project) if service is None else _service_path(project, service)
    return f"{scope}/backup_strategy"


def _object(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise ApiError(
            200, "bad_response", f"expected a JSON object from the control plane, got {type(answer).__name__}"
        )
    return answer


def _items(answer: Any, key: str) -> list[dict[str, Any]]:
    items = _object(answer).get(key)
    if not isinstance(items, list):
        raise ApiError(200, "bad_response", f"expected a list under {key!r} in the control plane's answer")
    return items
