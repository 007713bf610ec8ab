"""The control plane's one settings object: where data lives, where to listen, which regions exist.

Each setting is taken from the first of these that gives it: command-line flags (`--data-dir`, `--listen`,
`--log-format`), `DBAAS_CP_<SETTING>` environment variables (`DBAAS_CP_LISTEN=0.0.0.0:8750`; `DBAAS_CP_REGIONS`
as JSON), the TOML file of `--config`, the defaults. With nothing given, `dbaas-cp serve` runs the embedded
default in ./.dbaas on 127.0.0.1:8750 with regions local-east and local-west. An unknown setting (in the file
or as a `DBAAS_CP_*` variable) or a value of the wrong type is refused with a message naming it, as
`listen: ...` or `regions[1].name: ...`.

    # dbaas-cp.toml
    data_dir = "/var/lib/dbaas"   # default: ./.dbaas
    listen = "127.0.0.1:8750"
    log_format = "text"           # or "json": one JSON object per line
    catalog_url = "postgresql+psycopg://dbaas:secret@10.0.0.5/dbaas"   # default: SQLite in the data dir
    postgres_bin = "/usr/lib/postgresql/15/bin"
    os_user = "postgres"          # runs the database processes when we are root
    mysql_os_user = "mysql"       # runs the MariaDB servers (service_type "mysql") when we are root
    binlog_archive_seconds = 60.0 # a mysql service's binary log is closed and archived at least this often
    job_workers = 10              # jobs run at once: Terraform's default -parallelism, so ten creates overlap
    lease_seconds = 30.0          # how long a claimed job stays claimed without a renewal
    replication_interval = 1.0    # seconds between passes of the copy to additional backup regions
    replication_workers = 2       # files copied at once
    lag_sample_seconds = 30.0     # how often the replication lag is sampled for the report
    wal_queue_max_mb = 1024       # WAL (mysql: binary logs) a service holds for a store that is down; beyond
                                  # it the oldest is dropped (the disk never fills) and the gap is reported
    sealing_key_file = "/etc/dbaas/sealing.key"  # seals service passwords; default <data dir>/sealing.key;
                                                 # control planes sharing a catalog share this file
    [[regions]]
    name = "local-east"
    object_store = "/srv/dbaas/east/objects"    # default: <data dir>/regions/<name>/objects
    services_dir = "/srv/dbaas/east/services"   # default: <data dir>/regions/<name>/services
    copy_bandwidth_mb = 50.0                    # MB/s at most that this control plane's copies from other
                                                # regions (backups to another region) write here; default: no cap

    [[regions]]                                 # a region whose object store is an S3 endpoint (Swift's s3api)
    name = "swift-east"
    [regions.s3]
    endpoint = "https://localhost:8443"         # pgBackRest checks the certificate against a DNS name
    region = "swift-east"                       # the S3 API's region (s3api's `location`)
    ca_file = "/etc/dbaas/swift-east-ca.pem"    # default: the system's CAs
    credentials_file = "/etc/dbaas/swift-east"  # AWS shared-credentials format, profile [default];
    # or credentials_env = "SWIFT_EAST": SWIFT_EAST_ACCESS_KEY_ID and SWIFT_EAST_SECRET_ACCESS_KEY.
    # Credentials are read at start and never written to the catalog.
"""

from __future__ import annotations

import configparser
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource
from pydantic_settings import SettingsError as SourceError

DEFAULT_DATA_DIR = Path(".dbaas")
DEFAULT_LISTEN = "127.0.0.1:8750"
DEFAULT_REGIONS = ("local-east", "local-west")
DEFAULT_POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
ENV_PREFIX = "DBAAS_CP_"
# A region's name is a directory name under the data directory: no separators, no dot-dot.
REGION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"

LogFormat = Literal["text", "json"]


class SettingsError(Exception):
    """The configuration cannot be used; the message names the setting."""


@dataclass(frozen=True)
class S3Endpoint:
    """Where an S3 region's containers live and how to reach them; the secret never leaves memory."""

    endpoint: str  # https://host:port
    region: str
    ca_file: Path | None
    access_key: str
    secret_key: str = field(repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.endpoint)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def tls(self) -> bool:
        return urlsplit(self.endpoint).scheme == "https"


@dataclass(frozen=True)
class Region:
    """A region: its services' data directories here, and an object store that is a directory or S3."""

    name: str
    object_store: Path | None  # None: the store is `s3`
    services_dir: Path
    s3: S3Endpoint | None = None
    copy_bandwidth: float | None = None  # bytes per second the copies into the region write; None: no cap


@dataclass(frozen=True)
class Settings:
    """The settings a control plane runs with: every default filled in, every path absolute."""

    data_dir: Path
    host: str
    port: int
    catalog_url: str
    regions: tuple[Region, ...]
    postgres_bin: Path
    os_user: str | None
    job_workers: int
    lease_seconds: float
    replication_interval: float
    replication_workers: int
    lag_sample_seconds: float
    wal_queue_max_mb: int
    sealing_key_file: Path | None  # None: <data dir>/sealing.key
    log_format: LogFormat = "text"
    mysql_os_user: str | None = "mysql"
    binlog_archive_seconds: float = 60.0

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"

    @property
    def sealing_key(self) -> Path:
        """The key that seals service passwords in the catalog; control planes sharing a catalog share it."""
        return self.sealing_key_file or self.data_dir / "sealing.key"

    def region(self, name: str) -> Region | None:
        return next((region for region in self.regions if region.name == name), None)


def load_settings(
    data_dir: Path | None = None,
    listen: str | None = None,
    config_file: Path | None = None,
    *,
    log_format: LogFormat | None = None,
) -> Settings:
    """Flags (the arguments) win over `DBAAS_CP_*` variables, those over the TOML file, that over the defaults."""
    _refuse_unknown_variables()
    flags: dict[str, Any] = {"data_dir": data_dir, "listen": listen, "log_format": log_format}
    try:
        with _reading(config_file):
            given = _Given(**{name: value for name, value in flags.items() if value is not None})
    except ValidationError as err:
        raise SettingsError("; ".join(_describe(error) for error in err.errors())) from None
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SettingsError(f"cannot read --config {config_file}: {err}") from None
    except SourceError as err:  # a DBAAS_CP_* variable that should be JSON (regions) and is not
        raise SettingsError(f"{err}: {err.__cause__}") from None
    return given.resolve()


def split_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (HOST may be a bracketed IPv6 address) as (host, port)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def _no_bool(value: Any) -> Any:
    """TOML's true is no number, though pydantic would take it as 1."""
    if isinstance(value, bool):
        raise ValueError(f"expected a positive number, got {value!r}")
    return value


PositiveInt = Annotated[int, BeforeValidator(_no_bool), Field(gt=0)]
PositiveFloat = Annotated[float, BeforeValidator(_no_bool), Field(gt=0)]


class _GivenS3(BaseModel):
    """A region's `[regions.s3]` table: the endpoint and where its credentials come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str = Field(pattern=r"^https?://[^/?#\s]+$", description="http(s)://host[:port], nothing after it")
    region: str = Field(min_length=1, max_length=64)
    ca_file: Path | None = None
    credentials_file: Path | None = None
    credentials_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")

    @model_validator(mode="after")
    def _one_credentials_source(self) -> _GivenS3:
        if (self.credentials_file is None) == (self.credentials_env is None):
            raise ValueError("give exactly one of credentials_file and credentials_env")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file: no such file: {self.ca_file}")
        return self

    def resolve(self, where: str) -> S3Endpoint:
        access_key, secret_key = self._credentials(where)
        return S3Endpoint(
            endpoint=self.endpoint,
            region=self.region,
            ca_file=self.ca_file.resolve() if self.ca_file else None,
            access_key=access_key,
            secret_key=secret_key,
        )

    def _credentials(self, where: str) -> tuple[str, str]:
        if self.credentials_env is not None:
            names = (f"{self.credentials_env}_ACCESS_KEY_ID", f"{self.credentials_env}_SECRET_ACCESS_KEY")
            values = [os.environ.get(name, "") for name in names]
            if not all(values):
                raise SettingsError(f"{where}.credentials_env: set {names[0]} and {names[1]}")
            return values[0], values[1]
        assert self.credentials_file is not None
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(self.credentials_file.read_text())
            return parser["default"]["aws_access_key_id"], parser["default"]["aws_secret_access_key"]
        except (OSError, configparser.Error, KeyError) as err:
            raise SettingsError(
                f"{where}.credentials_file: cannot read {self.credentials_file} "
                f"(a [default] profile with aws_access_key_id and aws_secret_access_key): {err}"
            ) from None


class _GivenRegion(BaseModel):
    """A `[[regions]]` table as written: its directories default to ones in the data directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=REGION_NAME_PATTERN)
    object_store: Path | None = None
    services_dir: Path | None = None
    s3: _GivenS3 | None = None
    copy_bandwidth_mb: PositiveFloat | None = None

    @model_validator(mode="after")
    def _one_store(self) -> _GivenRegion:
        if self.s3 is not None and self.object_store is not None:
            raise ValueError("a region's store is either object_store (a directory) or s3, not both")
        return self

    def resolve(self, data_dir: Path, where: str) -> Region:
        root = data_dir / "regions" / self.name
        return Region(
            name=self.name,
            object_store=None if self.s3 else (self.object_store or root / "objects").resolve(),
            services_dir=(self.services_dir or root / "services").resolve(),
            s3=self.s3.resolve(f"{where}.s3") if self.s3 else None,
            copy_bandwidth=self.copy_bandwidth_mb * 1024 * 1024 if self.copy_bandwidth_mb else None,
        )


# The TOML file of the load under way: pydantic-settings takes its sources from a class method, so the file
# chosen at run time reaches it here.
_config_file: ContextVar[Path | None] = ContextVar("dbaas_cp_config_file", default=None)


@contextmanager
def _reading(config_file: Path | None) -> Iterator[None]:
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"no such file: {config_file}")
    reset = _config_file.set(config_file)
    try:
        yield
    finally:
        _config_file.reset(reset)


class _Given(BaseSettings):
    """The settings as given by flags, environment, TOML file and defaults, checked; `resolve` fills in the rest."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = DEFAULT_DATA_DIR
    listen: str = DEFAULT_LISTEN
    log_format: LogFormat = "text"
    catalog_url: str = ""  # "": SQLite in the data directory
    regions: tuple[_GivenRegion, ...] = tuple(_GivenRegion(name=name) for name in DEFAULT_REGIONS)
    postgres_bin: Path = DEFAULT_POSTGRES_BIN
    os_user: str = "postgres"
    mysql_os_user: str = "mysql"
    binlog_archive_seconds: PositiveFloat = 60.0
    job_workers: PositiveInt = 10
    lease_seconds: PositiveFloat = 30.0
    replication_interval: PositiveFloat = 1.0
    replication_workers: PositiveInt = 2
    lag_sample_seconds: PositiveFloat = 30.0
    wal_queue_max_mb: PositiveInt = 1024
    sealing_key_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags, then the environment, then the file; no .env file, no secrets directory.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_config_file.get())

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, listen: str) -> str:
        split_listen(listen)
        return listen

    @field_validator("regions")
    @classmethod
    def _regions_are_named_once(cls, regions: tuple[_GivenRegion, ...]) -> tuple[_GivenRegion, ...]:
        if not regions:
            raise ValueError("at least one region is needed")
        names = [region.name for region in regions]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"region names must be unique: {', '.join(repeated)} given more than once")
        return regions

    def resolve(self) -> Settings:
        data_dir = self.data_dir.resolve()
        host, port = split_listen(self.listen)
        return Settings(
            data_dir=data_dir,
            host=host,
            port=port,
            catalog_url=self.catalog_url or f"sqlite:///{data_dir / 'catalog.sqlite'}",
            regions=tuple(region.resolve(data_dir, f"regions[{i}]") for i, region in enumerate(self.regions)),
            postgres_bin=self.postgres_bin,
            # Only root can run the databases as another account; anyone else runs them as themselves.
            os_user=self.os_user if os.geteuid() == 0 else None,
            mysql_os_user=self.mysql_os_user if os.geteuid() == 0 else None,
            binlog_archive_seconds=self.binlog_archive_seconds,
            job_workers=self.job_workers,
            lease_seconds=self.lease_seconds,
            replication_interval=self.replication_interval,
            replication_workers=self.replication_workers,
            lag_sample_seconds=self.lag_sample_seconds,
            wal_queue_max_mb=self.wal_queue_max_mb,
            sealing_key_file=self.sealing_key_file.resolve() if self.sealing_key_file else None,
            log_format=self.log_format,
        )


def _refuse_unknown_variables() -> None:
    """pydantic-settings reads only the variables it knows: a misspelt one would be ignored without a word."""
    for variable in sorted(os.environ):
        name = variable.lower().removeprefix(ENV_PREFIX.lower())
        if variable.upper().startswith(ENV_PREFIX) and name not in _Given.model_fields:
            raise SettingsError(f"{variable}: unknown setting (known: {', '.join(_Given.model_fields)})")


def _describe(error: ErrorDetails) -> str:
    """One error as `regions[1].name: what is wrong`."""
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown setting"
    if error["type"] == "value_error":
        return f"{where}: {error.get('ctx', {}).get('error', error['msg'])}"
    message = error["msg"][:1].lower() + error["msg"][1:]
    return f"{where}: {message}, got {error['input']!r}"
