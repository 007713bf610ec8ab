from pathlib import Path

import pytest

from controlplane.settings import SettingsError, load_settings


def test_embedded_default(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "data")
    assert (settings.host, settings.port) == ("127.0.0.1", 8750)
    assert [region.name for region in settings.regions] == ["local-east", "local-west"]
    assert settings.catalog_url == f"sqlite:///{tmp_path / 'data' / 'catalog.sqlite'}"
    east = settings.region("local-east")
    assert east is not None and east.services_dir == tmp_path / "data/regions/local-east/services"


def test_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "cp.toml"
    config.write_text(
        'listen = "127.0.0.1:9000"\njob_workers = 2\n'
        'catalog_url = "postgresql+psycopg://u:p@127.0.0.1/cp"\n'
        '[[regions]]\nname = "eu-1"\nobject_store = "/srv/eu-1/objects"\n'
    )
    settings = load_settings(tmp_path, None, config)
    assert settings.port == 9000 and settings.job_workers == 2
    assert settings.catalog_url.startswith("postgresql+psycopg://")
    [region] = settings.regions
    assert region.object_store == Path("/srv/eu-1/objects")
    assert load_settings(tmp_path, "0.0.0.0:8800", config).port == 8800


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ('listen = "nowhere"', "listen"),
        ('[[regions]]\nname = "a"\n[[regions]]\nname = "a"', "regions"),
        ("[[regions]]\nobject_store = '/x'", "regions"),
        ("this is = not toml =", "--config"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, text: str, setting: str) -> None:
    config = tmp_path / "cp.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=setting):
        load_settings(tmp_path, None, config)
