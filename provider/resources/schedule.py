"""The schedule validator: a cron expression refused at `terraform validate`, not at apply.

The rule is the control plane's (controlplane/domain/validation.py check_schedule, docs/design.md): classic
five-field cron (minute hour day month weekday, UTC) whose times of day lie at least MIN_MINUTES apart, the
last of a day and the first of the next included. The provider ships without the control plane, so it
states the rule again; the control plane still checks it and names the attribute if they ever differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

CRON_FIELDS = 5
MIN_MINUTES = 15
_DAY_MINUTES = 24 * 60
EXAMPLE = '(e.g. "0 3 * * *" for 03:00 every day)'
RULE = (
    "No seconds or year field; the times of day it fires lie at least 15 minutes apart, the last of a day "
    "and the first of the next included."
)


def is_schedule(value: Any) -> str | None:
    """None for a schedule the control plane accepts, else why it refuses it."""
    from croniter import CroniterBadDateError, croniter  # imported when a schedule is configured, not at start

    if len(value.split()) != CRON_FIELDS or not croniter.is_valid(value):
        return f"must be a cron expression of five fields, minute hour day month weekday {EXAMPLE}, got {value!r}"
    try:
        croniter(value).get_next(datetime)
    except CroniterBadDateError:
        return f"{value!r} never fires {EXAMPLE}"
    minutes, hours = croniter.expand(value)[0][:2]
    times = sorted(60 * hour + minute for hour in _every(hours, 24) for minute in _every(minutes, 60))
    closest = min([later - earlier for earlier, later in pairwise(times)] + [times[0] + _DAY_MINUTES - times[-1]])
    if closest < MIN_MINUTES:
        return f"{value!r} fires {closest} minute(s) apart; firings must be at least {MIN_MINUTES} minutes apart"
    return None


def _every(values: Sequence[int | str], size: int) -> list[int]:
    """A field expanded by croniter, where "*" stands for the whole range 0..size-1."""
    return list(range(size)) if values == ["*"] else [int(value) for value in values]
