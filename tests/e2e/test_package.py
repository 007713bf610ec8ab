"""The released provider (packaging/build_package.py) as a user installs it: from a filesystem mirror through
`terraform providers lock` and `terraform init` (no dev_overrides), then applied against the real control plane.
Terraform must refuse a tampered package, whether in the mirror or after installation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from provider.main import SHIPPED_SCHEMA, plugin_spec
from provider.plugin.serve import schema_answer
from tests.controlplane.cp_process import ControlPlane
from tests.plugin_process import REPO, make_client_identity, schema_and_imports
from tests.terraform_workspace import TerraformResult, Workspace, terraform_env

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
NAME = "terraform-provider-dbaas"
EXECUTABLE = f"{NAME}_v{VERSION}"
MIRROR_DIR = Path("registry.terraform.io/dbaas/dbaas")
# The control plane's dependencies and our development tools: none may ship with the provider.
NOT_SHIPPED = {"controlplane", "tests", "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg"}
NOT_SHIPPED |= {"pydantic", "pydantic_settings", "cryptography", "grpc", "pytest", "hypothesis", "mypy"}
NOT_SHIPPED |= {"google"}  # protobuf's runtime: the provider reads and writes tfplugin6 itself
CONFIGURATION = f"""terraform {{
  required_providers {{
    dbaas = {{
      source  = "dbaas/dbaas"
      version = "{VERSION}"
    }}
  }}
}}
provider "dbaas" {{}}
data "dbaas_regions" "all" {{}}
resource "dbaas_service" "db" {{
  name         = "packaged"
  service_type = "pg"
  cloud        = data.dbaas_regions.all.regions[0].name
  plan         = "hobbyist"
}}
"""


@dataclass(frozen=True)
class Release:
    dist: Path
    zip_path: Path


def build_release(dist: Path) -> Release:
    subprocess.run([sys.executable, str(REPO / "packaging" / "build_package.py"), "--dist", str(dist)], check=True)
    return Release(dist, dist / f"{NAME}_{VERSION}_linux_amd64.zip")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    return build_release(tmp_path_factory.mktemp("dist"))


def h1_hash(files: dict[str, bytes]) -> str:
    """Terraform's h1: hash of a provider's files (Go's dirhash Hash1: a sorted summary of each file's SHA-256)."""
    summary = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))
    return "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()


def zip_files(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as archive:
        return {entry.filename: archive.read(entry) for entry in archive.infolist() if not entry.is_dir()}


def dir_files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def mirror_of(zip_path: Path, mirror: Path) -> Path:
    """A filesystem mirror in the packed layout holding the zip."""
    (mirror / MIRROR_DIR).mkdir(parents=True)
    shutil.copyfile(zip_path, mirror / MIRROR_DIR / zip_path.name)
    return mirror


def mirror_workspace(path: Path, mirror: Path, control_plane: ControlPlane, token: str) -> Workspace:
    """A working directory whose Terraform installs dbaas/dbaas from `mirror` only, and whose PATH reaches no
    virtual environment: the provider must bring everything it needs but a Python."""
    path.mkdir()
    (path / "main.tf").write_text(CONFIGURATION)
    config = path.parent / f"{path.name}.tfrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/dbaas/dbaas"]\n  }}\n'
        "}\n"
    )
    env = terraform_env(config)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent)
    env.pop("VIRTUAL_ENV", None)
    env.update(DBAAS_ENDPOINT=control_plane.url, DBAAS_TOKEN=token, DBAAS_PROJECT="acme")
    return Workspace(path, path, env)


def failed_saying(result: TerraformResult, message: str) -> bool:
    """Terraform failed with `message` (its line breaks aside)."""
    return result.returncode == 1 and message in " ".join((result.stdout + result.stderr).split())


def test_release_holds_the_provider_and_its_dependencies_only(release: Release) -> None:
    files = zip_files(release.zip_path)
    with zipfile.ZipFile(release.zip_path) as archive:
        modes = {entry.filename: entry.external_attr >> 16 for entry in archive.infolist()}
    assert modes[EXECUTABLE] == 0o100755
    assert {name for name in files if "/" not in name} == {EXECUTABLE, "terraform-registry-manifest.json", "LICENSE"}
    manifest = json.loads(files["terraform-registry-manifest.json"])
    assert manifest == {"version": 1, "metadata": {"protocol_versions": ["6.0"]}}
    top_level = {name.split("/")[1].split(".")[0].split("-")[0] for name in files if name.startswith("lib/")}
    assert {"provider", "msgpack", "hpack"} <= top_level
    assert not top_level & NOT_SHIPPED
    assert not [name for name in files if name.startswith("lib/provider/") and "/test_" in name]

    # Extensions: abi3, or one for each Python pyproject.toml admits (3.11 to 3.13).
    extensions: dict[str, set[str]] = {}
    for name in files:
        if name.endswith(".so"):
            module, suffix = name.split(".", 1)
            extensions.setdefault(module, set()).add(suffix)
    for module, suffixes in extensions.items():
        assert suffixes == {"abi3.so"} or suffixes == {f"cpython-3{m}-x86_64-linux-gnu.so" for m in (11, 12, 13)}, (
            module,
            suffixes,
        )

    # Bytecode for this Python beside every module, valid whatever times the unzip gives the files.
    tag = sys.implementation.cache_tag
    for name in files:
        if name.endswith(".py") and name != "lib/launch.py":
            directory, _, module = name.rpartition("/")
            pyc = files.get(f"{directory}/__pycache__/{module[:-3]}.{tag}.pyc")
            assert pyc is not None, f"{name} is not byte-compiled"
            assert int.from_bytes(pyc[4:8], "little") == 0b01, f"{name}'s bytecode is not unchecked-hash"

    sums = (release.dist / f"{NAME}_{VERSION}_SHA256SUMS").read_text().splitlines()
    manifest_file = release.dist / f"{NAME}_{VERSION}_manifest.json"
    assert sums == [
        f"{hashlib.sha256(release.zip_path.read_bytes()).hexdigest()}  {release.zip_path.name}",
        f"{hashlib.sha256(manifest_file.read_bytes()).hexdigest()}  {manifest_file.name}",
    ]
    assert json.loads(manifest_file.read_text()) == manifest


def test_the_release_answers_the_schema_it_ships_without_importing_the_provider(
    release: Release, tmp_path: Path
) -> None:
    with zipfile.ZipFile(release.zip_path) as archive:
        archive.extractall(tmp_path)
    lib = tmp_path / "lib"
    shipped = (lib / SHIPPED_SCHEMA).read_bytes()
    assert shipped == schema_answer(plugin_spec()), "the answer of the code the release ships"
    # The interpreter and flags of the release's executable (packaging/terraform-provider-dbaas), with the import log.
    command = [sys.executable, "-I", "-S", "-B", "-X", "importtime", str(lib / "launch.py")]
    answer, imports = schema_and_imports(make_client_identity(), command)
    assert answer == shipped
    assert "provider.dbaas" not in imports and "provider.plugin.tfplugin6" not in imports
    assert not list(lib.rglob("*schema.*.bin")), "nothing written among the release's files"


def test_release_is_reproducible(release: Release, tmp_path: Path) -> None:
    again = build_release(tmp_path / "dist")
    assert again.zip_path.read_bytes() == release.zip_path.read_bytes()


def test_init_from_a_mirror_with_a_lock_file_applies_and_refuses_tampering(
    release: Release, control_plane: ControlPlane, tmp_path: Path
) -> None:
    token = control_plane.create_token("acme")
    mirror = mirror_of(release.zip_path, tmp_path / "mirror")
    work = mirror_workspace(tmp_path / "work", mirror, control_plane, token)

    # The lock file a team commits: h1 of every file of the provider, as Terraform computes it.
    work.run("providers", "lock", f"-fs-mirror={mirror}", "-platform=linux_amd64")
    lock = (work.path / ".terraform.lock.hcl").read_text()
    assert f'"{h1_hash(zip_files(release.zip_path))}"' in lock
    work.run("init", "-input=false")
    assert (work.path / ".terraform.lock.hcl").read_text() == lock
    installed = work.path / ".terraform/providers" / MIRROR_DIR / VERSION / "linux_amd64"
    installed_files = dir_files(installed)

    try:
        work.apply()
        service = work.resources()["dbaas_service.db"]
        assert (service["id"], service["state"]) == ("acme/packaged", "RUNNING")
        with control_plane.client(token) as client:
            assert client.get("/v1/projects/acme/services/packaged").json()["state"] == "RUNNING"
        assert work.plan_exit_code().returncode == 0, "plan after apply must be empty"
        assert dir_files(installed) == installed_files, "the provider wrote into its installed directory"
    finally:
        work.run("destroy", "-auto-approve", "-input=false")

    # A file changed after installation: Terraform no longer runs the provider.
    (installed / "lib/provider/main.py").write_bytes(installed_files["lib/provider/main.py"] + b"#\n")
    unchecked = work.run("plan", "-input=false", check=False)
    assert failed_saying(unchecked, "does not match any of the checksums recorded in the dependency lock file")

    # A file changed in the mirror's zip: `init` with the committed lock file refuses it.
    tampered_zip = tmp_path / "tampered" / release.zip_path.name
    tampered_zip.parent.mkdir()
    with zipfile.ZipFile(release.zip_path) as original, zipfile.ZipFile(tampered_zip, "w") as tampered:
        for entry in original.infolist():
            data = original.read(entry)
            tampered.writestr(entry, data + b"#\n" if entry.filename == "lib/provider/main.py" else data)
    other = mirror_workspace(
        tmp_path / "other", mirror_of(tampered_zip, tmp_path / "tampered-mirror"), control_plane, token
    )
    shutil.copyfile(work.path / ".terraform.lock.hcl", other.path / ".terraform.lock.hcl")
    refused = other.run("init", "-input=false", check=False)
    assert failed_saying(refused, "doesn't match any of the checksums previously recorded in the dependency lock file")
