"""The real control plane of the MySQL suites: directory stores in two regions, and at the end the MariaDB servers
a failed test left running removed with the data directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from controlplane.engine.mariadb import CONF_NAME, MariaDB
from tests.controlplane.cp_process import ControlPlane, remove_tree, unprivileged_reachable_dir

REGIONS = ("local-east", "local-west")


@contextmanager
def mysql_control_plane(
    prefix: str, settings: str, *, after_stop: Callable[[Path], object] = lambda data_dir: None
) -> Iterator[ControlPlane]:
    """A started control plane whose configuration is `settings` (TOML lines) plus `REGIONS`, in a fresh
    directory named from `prefix`; `after_stop` runs on that directory once the control plane stopped."""
    data_dir = unprivileged_reachable_dir(prefix)
    config = data_dir / "dbaas-cp.toml"
    config.write_text(settings + "".join(f'[[regions]]\nname = "{name}"\n' for name in REGIONS))
    control_plane = ControlPlane(data_dir, config).start()
    yield control_plane
    control_plane.stop()
    after_stop(data_dir)
    for option_file in data_dir.glob(f"regions/*/services/*/*/{CONF_NAME}"):
        MariaDB(option_file.parent, port=0).remove()  # what a failed test left running
    remove_tree(data_dir)


def tenant_client(plane: ControlPlane, project: str = "acme") -> Iterator[httpx.Client]:
    """An HTTP client of `plane` with a token of `project`, for a module's fixture to yield from."""
    with plane.client(plane.create_token(project)) as client:
        yield client
