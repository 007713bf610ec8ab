"""Build the provider's release for linux_amd64, as a Terraform registry or a filesystem mirror serves it.

Writes to the dist directory (default `dist/`):
- `terraform-provider-dbaas_<version>_linux_amd64.zip`: at its root the executable
  `terraform-provider-dbaas_v<version>` (packaging/terraform-provider-dbaas), terraform-registry-manifest.json and
  LICENSE; in `lib/` the provider's code, every runtime dependency (wheels for manylinux x86_64; version-specific
  extensions for each Python that pyproject.toml admits, else abi3 ones) and their bytecode (unchecked-hash: valid
  whatever times the unzip gives the files), and `provider-schema.bin`, the provider's schema answer, so that the
  launch that only reads schemas (the first of every Terraform command) imports no provider;
- `terraform-provider-dbaas_<version>_manifest.json`, the registry manifest;
- `terraform-provider-dbaas_<version>_SHA256SUMS` of the two.

Dependencies are those of pyproject.toml that provide a module provider/ imports (the control plane's stay out),
with their own, at the versions installed in the building environment: what ships is what the tests ran. The zip
is reproducible (sorted entries, fixed times).
Usage: python packaging/build_package.py [--dist DIR] [--python INTERPRETER]...
  --python: also byte-compile for that interpreter (the building one always is)
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PROVIDER = REPO / "provider"
NAME = "terraform-provider-dbaas"
PLATFORM = "linux_amd64"
# manylinux2014 (glibc 2.17) and the older tags pip accepts with it: the widest reach of x86_64 wheels.
WHEEL_PLATFORM = "manylinux2014_x86_64"
# Build-time or test code of provider/, not needed to serve.
LEFT_OUT = ("test_*.py", "docgen.py")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
LAST_MINOR = 99  # bound of the 3.x releases looked at in requires-python


@dataclass(frozen=True)
class Project:
    version: str
    requirements: list[str]  # the provider's runtime requirements, with pyproject.toml's ranges
    python_minors: list[int]  # the 3.x releases requires-python admits


def provider_sources() -> list[Path]:
    """The provider's modules that ship."""
    return [
        path
        for path in sorted(PROVIDER.rglob("*.py"))
        if "__pycache__" not in path.parts and not any(path.match(pattern) for pattern in LEFT_OUT)
    ]


def imported_modules(sources: list[Path]) -> set[str]:
    """Top-level modules the sources import, outside the standard library and the provider."""
    found: set[str] = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__", PROVIDER.name}


def runtime_requirements(dependencies: list[str], sources: list[Path]) -> list[str]:
    """The dependencies (pyproject.toml's lines) that provide a module the sources import."""
    providers = importlib.metadata.packages_distributions()
    requirements: list[str] = []
    for module in sorted(imported_modules(sources)):
        offered = {canonicalize_name(name) for name in providers.get(module, [])}
        matching = [spec for spec in dependencies if canonicalize_name(Requirement(spec).name) in offered]
        if not matching:
            raise SystemExit(f"provider/ imports {module}, which no dependency in pyproject.toml provides")
        requirements.extend(spec for spec in matching if spec not in requirements)
    return requirements


def read_project(pyproject: Path) -> Project:
    project = tomllib.loads(pyproject.read_text())["project"]
    supported = SpecifierSet(project["requires-python"])
    minors = [minor for minor in range(LAST_MINOR + 1) if f"3.{minor}" in supported]
    if LAST_MINOR in minors:  # extensions are fetched for each admitted Python: the range must be closed
        raise SystemExit("requires-python in pyproject.toml needs an upper bound (such as <3.14)")
    return Project(project["version"], runtime_requirements(project["dependencies"], provider_sources()), minors)


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *args], check=True)


def wheel_selection(minor: int) -> list[str]:
    """pip options that pick binary wheels for CPython 3.`minor` on manylinux x86_64."""
    return [
        "--only-binary=:all:",
        "--platform",
        WHEEL_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        f"3.{minor}",
    ]


def install_dependencies(lib: Path, project: Project, scratch: Path) -> None:
    """The provider's dependencies for the oldest supported Python (the conditional ones included), at the
    versions of this environment."""
    constraints = scratch / "constraints.txt"
    constraints.write_text(
        "".join(f"{dist.metadata['Name']}=={dist.version}\n" for dist in importlib.metadata.distributions())
    )
    pip(
        "install",
        "--target",
        str(lib),
        "--no-compile",
        *wheel_selection(project.python_minors[0]),
        "--constraint",
        str(constraints),
        *project.requirements,
    )
    shutil.rmtree(lib / "bin", ignore_errors=True)  # console scripts, which the provider does not run


def version_specific_wheels(lib: Path) -> list[tuple[str, str]]:
    """(name, version) of installed wheels built for one CPython version (abi cp3xx, neither abi3 nor none)."""
    found = []
    for wheel_file in sorted(lib.glob("*.dist-info/WHEEL")):
        tags = [
            line.split(":", 1)[1].strip() for line in wheel_file.read_text().splitlines() if line.startswith("Tag:")
        ]
        if any(tag.split("-")[1].startswith("cp3") for tag in tags):
            metadata = importlib.metadata.PathDistribution(wheel_file.parent).metadata
            found.append((metadata["Name"], metadata["Version"]))
    return found


def add_extensions(lib: Path, project: Project, scratch: Path) -> None:
    """Each version-specific wheel's extension modules for the other supported Pythons, beside the installed
    ones: every interpreter loads the one whose suffix it accepts."""
    for name, version in version_specific_wheels(lib):
        for minor in project.python_minors[1:]:
            wheels = scratch / f"wheels-3.{minor}"
            pip("download", "--no-deps", "--dest", str(wheels), *wheel_selection(minor), f"{name}=={version}")
            (wheel,) = wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl")
            suffix = f".cpython-3{minor}-x86_64-linux-gnu.so"
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.namelist():
                    if member.endswith(suffix):
                        archive.extract(member, lib)


def copy_provider(lib: Path) -> None:
    for path in provider_sources():
        target = lib / PROVIDER.name / path.relative_to(PROVIDER)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def byte_compile(lib: Path, interpreters: list[str]) -> None:
    """Bytecode that is the same at every build: file names relative to the package (the import system puts
    the real path in at load) and a fixed hash seed (the order of set constants)."""
    options = ["-q", "--invalidation-mode", "unchecked-hash", "-s", str(lib.parent)]
    for interpreter in interpreters:
        subprocess.run(
            [interpreter, "-m", "compileall", *options, str(lib)], check=True, env=dict(os.environ, PYTHONHASHSEED="0")
        )


def write_schema_answer(lib: Path) -> None:
    """The provider's GetProviderSchema answer, made by the staged code alone, into lib/ (provider.main's
    SHIPPED_SCHEMA), so that a launch that only reads the schema imports no provider."""
    code = (
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from provider.main import SHIPPED_SCHEMA, plugin_spec\n"
        "from provider.plugin.serve import schema_answer\n"
        "with open(os.path.join(sys.argv[1], SHIPPED_SCHEMA), 'wb') as out:\n"
        "    out.write(schema_answer(plugin_spec()))\n"
    )
    # -I -S: nothing but lib/ is searched, as when Terraform runs the release.
    subprocess.run([sys.executable, "-I", "-S", "-B", "-c", code, str(lib)], check=True)


def stage(root: Path, project: Project, interpreters: list[str], scratch: Path) -> None:
    """The provider's directory as Terraform unpacks it."""
    lib = root / "lib"
    install_dependencies(lib, project, scratch)
    add_extensions(lib, project, scratch)
    copy_provider(lib)
    byte_compile(lib, interpreters)
    write_schema_answer(lib)
    shutil.copyfile(REPO / "packaging" / "launch.py", lib / "launch.py")  # run as a script: never from bytecode
    executable = root / f"{NAME}_v{project.version}"
    shutil.copyfile(REPO / "packaging" / NAME, executable)
    # Under its repository name: Terraform runs the first file named terraform-provider-dbaas* it finds.
    shutil.copyfile(REPO / "terraform-registry-manifest.json", root / "terraform-registry-manifest.json")
    shutil.copyfile(REPO / "LICENSE", root / "LICENSE")


def write_zip(root: Path, zip_path: Path, executable: str) -> None:
    """Sorted entries, fixed times and Unix modes: 0755 for the executable (Terraform's unzip keeps it), else 0644."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            entry = zipfile.ZipInfo(path.relative_to(root).as_posix(), ZIP_TIME)
            entry.create_system = 3  # Unix: external_attr holds the mode
            entry.external_attr = (0o100755 if entry.filename == executable else 0o100644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())


def sha256sums(paths: list[Path]) -> str:
    return "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(paths))


def interpreter_minor(interpreter: str) -> int:
    answer = subprocess.run(
        [interpreter, "-I", "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
        capture_output=True,
        text=True,
        check=True,
    )
    major, minor = map(int, answer.stdout.split())
    if major != 3:
        raise SystemExit(f"{interpreter} is not Python 3")
    return minor


def build(dist: Path, extra_interpreters: list[str]) -> Path:
    """Write the release into `dist`; returns the zip's path."""
    project = read_project(REPO / "pyproject.toml")
    interpreters = [sys.executable, *extra_interpreters]
    for interpreter in interpreters:
        if interpreter_minor(interpreter) not in project.python_minors:
            raise SystemExit(f"{interpreter} is not a Python that pyproject.toml's requires-python admits")
    dist.mkdir(parents=True, exist_ok=True)
    zip_path = dist / f"{NAME}_{project.version}_{PLATFORM}.zip"
    manifest = dist / f"{NAME}_{project.version}_manifest.json"
    with tempfile.TemporaryDirectory(prefix="dbaas-package-") as scratch_dir:
        scratch = Path(scratch_dir)
        root = scratch / "package"
        stage(root, project, interpreters, scratch)
        write_zip(root, zip_path, executable=f"{NAME}_v{project.version}")
    shutil.copyfile(REPO / "terraform-registry-manifest.json", manifest)
    (dist / f"{NAME}_{project.version}_SHA256SUMS").write_text(sha256sums([zip_path, manifest]))
    return zip_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output directory (default: dist/)")
    parser.add_argument(
        "--python", action="append", default=[], help="also byte-compile for this interpreter (repeatable)"
    )
    args = parser.parse_args()
    zip_path = build(args.dist.resolve(), args.python)
    print(f"{zip_path} ({zip_path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
