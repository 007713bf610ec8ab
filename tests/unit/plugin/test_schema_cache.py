"""The schema answer kept between launches: used only while the sources are those it was made from."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from provider.plugin.schema_cache import SchemaCache
from tests.pb import tfplugin6_pb2
from tests.plugin_process import REPO, ClientIdentity, make_client_identity, schema_and_imports


def sources(tmp_path: Path) -> Path:
    package = tmp_path / "package"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 2\n")
    return package


@pytest.fixture(autouse=True)
def writes_byte_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a development install runs; this machine may set PYTHONDONTWRITEBYTECODE for everything."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def test_answer_is_kept_while_the_sources_stay_the_same(tmp_path: Path) -> None:
    package = sources(tmp_path)
    cache = SchemaCache((str(package),), "registry.terraform.io/x/y")
    assert cache.load() is None
    cache.store(b"\x00answer\x00with zero bytes")
    assert SchemaCache((str(package),), "registry.terraform.io/x/y").load() == b"\x00answer\x00with zero bytes"
    assert SchemaCache((str(package),), "registry.terraform.io/x/z").load() is None  # another provider's


def test_any_change_of_a_source_file_drops_the_answer(tmp_path: Path) -> None:
    package = sources(tmp_path)
    cache = SchemaCache((str(package),), "p")
    for change in (
        lambda: (package / "sub" / "b.py").write_text("B = 3\n"),  # same size, new time
        lambda: os.utime(package / "a.py", ns=(1, 1)),
        lambda: (package / "c.py").write_text(""),
        lambda: (package / "sub" / "b.py").unlink(),
    ):
        cache.store(b"answer")
        assert cache.load() == b"answer"
        change()
        assert cache.load() is None


def test_a_cache_that_cannot_be_written_is_no_cache(tmp_path: Path) -> None:
    package = sources(tmp_path)
    (package / "__pycache__").write_text("a file where the directory would be")
    cache = SchemaCache((str(package),), "p")
    cache.store(b"answer")
    assert cache.load() is None
    assert sorted(p.name for p in package.iterdir()) == ["__pycache__", "a.py", "sub"]


def test_nothing_is_written_where_no_byte_code_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = sources(tmp_path)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # `python -B`, as the packaged provider runs
    SchemaCache((str(package),), "p").store(b"answer")
    assert sorted(p.name for p in package.iterdir()) == ["a.py", "sub"]


def launch(client: ClientIdentity, package_parent: Path, *options: str) -> tuple[bytes, str]:
    """One launch of the dbaas provider copied under `package_parent`: its schema answer and its import log."""
    return schema_and_imports(
        client,
        [sys.executable, "-P", *options, "-X", "importtime", "-m", "provider.main"],
        extra_env={"PYTHONPATH": str(package_parent), "PYTHONDONTWRITEBYTECODE": ""},
    )


def test_a_launch_with_the_schema_cached_answers_it_without_importing_the_provider(tmp_path: Path) -> None:
    shutil.copytree(REPO / "provider", tmp_path / "provider", ignore=shutil.ignore_patterns("__pycache__"))
    client = make_client_identity("P-521")
    launch(client, tmp_path, "-B")  # an installed package's files stay as they were
    assert not (tmp_path / "provider" / "__pycache__").exists()

    first, first_imports = launch(client, tmp_path)
    again, again_imports = launch(client, tmp_path)
    assert again == first and len(first) > 1000
    assert "provider.dbaas" in first_imports
    assert "provider.dbaas" not in again_imports and "google.protobuf" not in again_imports

    with (tmp_path / "provider" / "dbaas.py").open("a") as changed:
        changed.write("# a change\n")
    after_change, after_change_imports = launch(client, tmp_path)
    # The same schema, though maybe not the same bytes: protobuf writes map entries in the order of the dict.
    assert parsed(after_change) == parsed(first) and "provider.dbaas" in after_change_imports


def parsed(answer: bytes) -> tfplugin6_pb2.GetProviderSchema.Response:
    return tfplugin6_pb2.GetProviderSchema.Response.FromString(answer)
