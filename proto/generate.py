#!/usr/bin/env python
"""Generate the Python protobuf message modules in tests/pb from proto/.

Usage:
    python proto/generate.py           # regenerate tests/pb in place
    python proto/generate.py --check   # exit 1 if tests/pb is out of date

Only message code (``*_pb2.py``) and type stubs (``*_pb2.pyi``) are produced;
no ``*_pb2_grpc.py`` stubs, because the provider runs its own gRPC server.

Code generation uses ``grpc_tools.protoc`` from the running interpreter, so
the output depends on the grpcio-tools version installed. Generated imports
of sibling modules (``import foo_pb2``) are rewritten to
``from tests.pb import foo_pb2`` so the modules work as a package.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROTO_DIR.parent
OUT_DIR = REPO_ROOT / "tests" / "pb"
PACKAGE = "tests.pb"

# Files in OUT_DIR that this script owns. Anything else is left alone.
_GENERATED_RE = re.compile(r"^[A-Za-z0-9_]+_pb2\.pyi?$")
_INIT = "__init__.py"


def proto_files() -> list[str]:
    """The .proto files to compile, as sorted names relative to PROTO_DIR."""
    return sorted(p.name for p in PROTO_DIR.glob("*.proto"))


def _local_modules() -> set[str]:
    return {name[: -len(".proto")] + "_pb2" for name in proto_files()}


def _fix_imports(text: str, local: set[str]) -> str:
    """Make imports of sibling generated modules package-absolute."""

    def repl(m: re.Match[str]) -> str:
        indent, module, rest = m.group(1), m.group(2), m.group(3)
        if module not in local:
            return m.group(0)
        return f"{indent}from {PACKAGE} import {module}{rest}"

    # protoc emits ``import foo_pb2 as foo__pb2`` (py) and
    # ``import foo_pb2 as _foo_pb2`` (pyi) for protos in the same directory.
    return re.sub(
        r"^([ \t]*)import ([A-Za-z0-9_]+_pb2)((?: as [A-Za-z0-9_]+)?)[ \t]*$",
        repl,
        text,
        flags=re.MULTILINE,
    )


def generate(out_dir: Path) -> list[str]:
    """Compile all protos into out_dir; return the sorted generated file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = proto_files()
    if not protos:
        raise SystemExit(f"no .proto files found in {PROTO_DIR}")
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",  # adds the well-known-types include path itself
        f"-I{PROTO_DIR}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *protos,
    ]
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    res = subprocess.run(cmd, cwd=PROTO_DIR, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"protoc failed with exit code {res.returncode}")

    local = _local_modules()
    names = []
    for module in sorted(local):
        for suffix in (".py", ".pyi"):
            path = out_dir / (module + suffix)
            if not path.is_file():
                raise SystemExit(f"protoc did not produce {path}")
            names.append(path.name)
    for name in names:
        path = out_dir / name
        text = path.read_text(encoding="utf-8")
        fixed = _fix_imports(text, local)
        # Normalise line endings / trailing newline for stable output.
        fixed = fixed.replace("\r\n", "\n").rstrip("\n") + "\n"
        path.write_text(fixed, encoding="utf-8", newline="\n")

    (out_dir / _INIT).write_text("", encoding="utf-8")
    names.append(_INIT)
    return sorted(names)


def _owned_files(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {p.name for p in directory.iterdir() if p.is_file() and (_GENERATED_RE.match(p.name) or p.name == _INIT)}


def check(out_dir: Path = OUT_DIR) -> list[str]:
    """Return human-readable problems; empty when out_dir is up to date."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pbgen-") as tmp:
        tmp_dir = Path(tmp)
        expected = set(generate(tmp_dir))
        actual = _owned_files(out_dir)
        for name in sorted(expected - actual):
            problems.append(f"missing: {out_dir / name}")
        for name in sorted(actual - expected):
            problems.append(f"stale (no matching .proto): {out_dir / name}")
        for name in sorted(expected & actual):
            want = (tmp_dir / name).read_text(encoding="utf-8")
            have = (out_dir / name).read_text(encoding="utf-8")
            if want != have:
                diff = list(
                    difflib.unified_diff(
                        have.splitlines(),
                        want.splitlines(),
                        f"committed/{name}",
                        f"generated/{name}",
                        lineterm="",
                        n=1,
                    )
                )
                shown = "\n".join("    " + line for line in diff[:20])
                more = "\n    ..." if len(diff) > 20 else ""
                problems.append(f"differs: {out_dir / name}\n{shown}{more}")
    return problems


def _tool_versions() -> str:
    try:
        from importlib.metadata import version

        return f"grpcio-tools {version('grpcio-tools')}, protobuf {version('protobuf')}"
    except Exception:  # pragma: no cover - informational only
        return "unknown tool versions"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if tests/pb differs from what proto/ generates",
    )
    args = parser.parse_args(argv)

    if args.check:
        problems = check(OUT_DIR)
        if problems:
            print(
                f"tests/pb is out of date with proto/ (generated with {_tool_versions()}).\n"
                "Run `python proto/generate.py` and commit the result. Differences:",
                file=sys.stderr,
            )
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
            return 1
        print("tests/pb is up to date with proto/")
        return 0

    expected = set(generate(OUT_DIR))
    # Remove generated modules whose .proto no longer exists.
    for name in sorted(_owned_files(OUT_DIR) - expected):
        (OUT_DIR / name).unlink()
        print(f"removed stale {OUT_DIR / name}")
    for name in sorted(expected):
        print(f"wrote {(OUT_DIR / name).relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
