"""Settings from flags, DBAAS_CP_* variables, the TOML file and defaults, and what is refused (in process:
the command's own handling of these is in test_cli.py)."""

import os
import re
from pathlib import Path

import pytest

from controlplane.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def no_settings_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables of the shell running the tests must not change what these tests read."""
    for variable in os.environ:
        if variable.upper().startswith("DBAAS_CP_"):
            monkeypatch.delenv(variable)


def test_embedded_default(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "data")
    assert (settings.host, settings.port) == ("127.0.0.1", 8750)
    assert [region.name for region in settings.regions] == ["local-east", "local-west"]
    assert settings.catalog_url == f"sqlite:///{tmp_path / 'data' / 'catalog.sqlite'}"
    east = settings.region("local-east")
    assert east is not None and east.services_dir == tmp_path / "data/regions/local-east/services"
    assert east.copy_bandwidth is None, "no cap unless one is set"
    assert settings.log_format == "text" and settings.job_workers == 10


def test_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "cp.toml"
    config.write_text(
        'listen = "127.0.0.1:9000"\njob_workers = 2\n'
        'catalog_url = "postgresql+psycopg://u:p@127.0.0.1/cp"\n'
        '[[regions]]\nname = "eu-1"\nobject_store = "/srv/eu-1/objects"\ncopy_bandwidth_mb = 2.5\n'
    )
    settings = load_settings(tmp_path, None, config)
    assert settings.port == 9000 and settings.job_workers == 2
    assert settings.catalog_url.startswith("postgresql+psycopg://")
    [region] = settings.regions
    assert region.object_store == Path("/srv/eu-1/objects")
    assert region.copy_bandwidth == 2.5 * 1024 * 1024
    assert region.services_dir == tmp_path / "regions/eu-1/services"
    assert load_settings(tmp_path, "0.0.0.0:8800", config).port == 8800


def test_environment_between_flags_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cp.toml"
    config.write_text(f'listen = "127.0.0.1:9000"\njob_workers = 2\ndata_dir = "{tmp_path / "from-file"}"\n')
    monkeypatch.setenv("DBAAS_CP_LISTEN", "127.0.0.1:9100")
    monkeypatch.setenv("DBAAS_CP_DATA_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("DBAAS_CP_REGIONS", '[{"name": "eu-2"}]')
    monkeypatch.setenv("DBAAS_CP_LOG_FORMAT", "json")
    from_env = load_settings(None, None, config)
    assert (from_env.port, from_env.job_workers, from_env.log_format) == (9100, 2, "json")
    assert from_env.data_dir == tmp_path / "from-env"
    assert [region.name for region in from_env.regions] == ["eu-2"]
    flags = load_settings(tmp_path / "from-flag", "127.0.0.1:9200", config, log_format="text")
    assert (flags.port, flags.data_dir, flags.log_format) == (9200, tmp_path / "from-flag", "text")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('listen = "nowhere"', "listen: expected HOST:PORT, got 'nowhere'"),
        ("listen = 5", "listen: input should be a valid string, got 5"),
        ("job_workers = true", "job_workers: expected a positive number, got True"),
        ("job_workers = 0", "job_workers: input should be greater than 0, got 0"),
        ('log_format = "xml"', "log_format: input should be 'text' or 'json', got 'xml'"),
        ("lisen = '127.0.0.1:1'", "lisen: unknown setting"),
        ('[[regions]]\nname = "a"\n[[regions]]\nname = "a"', "regions: region names must be unique: a given more"),
        ("regions = []", "regions: at least one region is needed"),
        ('[[regions]]\nname = "a"\n[[regions]]\nname = 7', "regions[1].name: input should be a valid string, got 7"),
        ('[[regions]]\nname = "../up"', "regions[0].name: string should match pattern"),
        ('[[regions]]\nname = "a"\nobject_stor = "/x"', "regions[0].object_stor: unknown setting"),
        (
            '[[regions]]\nname = "a"\ncopy_bandwidth_mb = 0',
            "regions[0].copy_bandwidth_mb: input should be greater than 0, got 0",
        ),
        ("this is = not toml =", "cannot read --config"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "cp.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(tmp_path, None, config)


def test_bad_environment_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBAAS_CP_JOB_WORKERS", "four")
    with pytest.raises(SettingsError, match=r"^job_workers: input should be a valid integer"):
        load_settings(tmp_path)
    monkeypatch.delenv("DBAAS_CP_JOB_WORKERS")
    monkeypatch.setenv("DBAAS_CP_LISTN", "127.0.0.1:1")
    with pytest.raises(SettingsError, match=r"^DBAAS_CP_LISTN: unknown setting"):
        load_settings(tmp_path)
    monkeypatch.delenv("DBAAS_CP_LISTN")
    monkeypatch.setenv("DBAAS_CP_REGIONS", '[{"name": "a"')
    with pytest.raises(SettingsError, match='field "regions"'):
        load_settings(tmp_path)


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=re.escape(f"cannot read --config {tmp_path / 'none.toml'}")):
        load_settings(tmp_path, None, tmp_path / "none.toml")
