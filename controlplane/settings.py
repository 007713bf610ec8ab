"""The control plane's one settings object: where data lives, where to listen, which regions exist.

Read from command-line flags and an optional TOML file; everything has a default so that
`dbaas-cp serve` with no arguments runs the embedded default in ./.dbaas on 127.0.0.1:8750 with
regions local-east and local-west.

    # dbaas-cp.toml
    listen = "127.0.0.1:8750"
    catalog_url = "postgresql+psycopg://dbaas:secret@10.0.0.5/dbaas"   # default: SQLite in the data dir
    postgres_bin = "/usr/lib/postgresql/15/bin"
    os_user = "postgres"          # runs the database processes when we are root
    job_workers = 4
    replication_interval = 1.0    # seconds between passes of the copy to additional backup regions
    replication_workers = 2       # files copied at once
    lag_sample_seconds = 30.0     # how often the replication lag is sampled for the report
    sealing_key_file = "/etc/dbaas/sealing.key"  # seals service passwords; default <data dir>/sealing.key;
                                                 # control planes sharing a catalog share this file
    [[regions]]
    name = "local-east"
    object_store = "/srv/dbaas/east/objects"    # default: <data dir>/regions/<name>/objects
    services_dir = "/srv/dbaas/east/services"   # default: <data dir>/regions/<name>/services
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path(".dbaas")
DEFAULT_LISTEN = "127.0.0.1:8750"
DEFAULT_REGIONS = ("local-east", "local-west")
DEFAULT_POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


class SettingsError(Exception):
    """The configuration cannot be used; the message names the setting."""


@dataclass(frozen=True)
class Region:
    name: str
    object_store: Path
    services_dir: Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str
    port: int
    catalog_url: str
    regions: tuple[Region, ...]
    postgres_bin: Path
    os_user: str | None
    job_workers: int = 4
    lease_seconds: float = 30.0
    replication_interval: float = 1.0
    replication_workers: int = 2
    lag_sample_seconds: float = 30.0
    sealing_key_file: Path | None = None  # default: <data dir>/sealing.key

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"

    @property
    def sealing_key(self) -> Path:
        """The key that seals service passwords in the catalog; control planes sharing a catalog share it."""
        return self.sealing_key_file or self.data_dir / "sealing.key"

    def region(self, name: str) -> Region | None:
        return next((region for region in self.regions if region.name == name), None)


def load_settings(data_dir: Path | None = None, listen: str | None = None, config_file: Path | None = None) -> Settings:
    """Flags win over the file, the file over the defaults."""
    config: dict[str, Any] = {}
    if config_file is not None:
        try:
            config = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise SettingsError(f"cannot read --config {config_file}: {err}") from err
    base = (data_dir or Path(config.get("data_dir", DEFAULT_DATA_DIR))).resolve()
    host, port = _parse_listen(listen or config.get("listen", DEFAULT_LISTEN))
    regions = tuple(_region(base, entry) for entry in config.get("regions", [{"name": n} for n in DEFAULT_REGIONS]))
    if not regions:
        raise SettingsError("regions: at least one region is needed")
    if len({region.name for region in regions}) != len(regions):
        raise SettingsError("regions: region names must be unique")
    return Settings(
        data_dir=base,
        host=host,
        port=port,
        catalog_url=config.get("catalog_url") or f"sqlite:///{base / 'catalog.sqlite'}",
        regions=regions,
        postgres_bin=Path(config.get("postgres_bin", DEFAULT_POSTGRES_BIN)),
        os_user=config.get("os_user", "postgres") if os.geteuid() == 0 else None,
        job_workers=int(config.get("job_workers", 4)),
        lease_seconds=float(config.get("lease_seconds", 30.0)),
        replication_interval=_positive(config, "replication_interval", 1.0),
        replication_workers=int(_positive(config, "replication_workers", 2)),
        lag_sample_seconds=_positive(config, "lag_sample_seconds", 30.0),
        sealing_key_file=Path(config["sealing_key_file"]).resolve() if "sealing_key_file" in config else None,
    )


def _positive(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SettingsError(f"{key}: expected a positive number, got {value!r}")
    return float(value)


def _parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"listen: expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def _region(base: Path, entry: dict[str, Any]) -> Region:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise SettingsError(f"regions: every region needs a name, got {entry!r}")
    root = base / "regions" / name
    return Region(
        name=name,
        object_store=Path(entry.get("object_store", root / "objects")).resolve(),
        services_dir=Path(entry.get("services_dir", root / "services")).resolve(),
    )
