"""Build the Go provider of bench/same_schema_provider/main.go, which Terraform plans as it plans ours: the dbaas
provider's schema answer and state, served by go-plugin and Go's gRPC with work of its own as small as a Go
provider's can be (bench/backup_plan.py's "Go, same schema and state" side).

Everything comes from Debian's packages, offline, in GOPATH mode (Go 1.19 and its packaged libraries):
    apt-get install golang-go protobuf-compiler protoc-gen-go-grpc golang-google-protobuf-dev \\
        golang-google-grpc-dev golang-goprotobuf-dev golang-github-hashicorp-go-plugin-dev \\
        golang-github-zclconf-go-cty-dev
The tfplugin6 bindings are generated from proto/tfplugin6.proto at build time (protoc-gen-go is built from the
packaged sources: /usr/bin/protoc-gen-go may be the older generator of golang-goprotobuf-dev).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from provider.main import plugin_spec
from provider.plugin.serve import schema_answer

HERE = Path(__file__).resolve().parent
PROTO = HERE.parent / "proto" / "tfplugin6.proto"
DEBIAN_GOPATH = Path("/usr/share/gocode")
PACKAGE = "samebackup"  # the import path of the build's own code in its GOPATH
ANSWER_VARIABLE = "SAME_SCHEMA_ANSWER"  # read by main.go
NEEDED = (
    "golang-go protobuf-compiler protoc-gen-go-grpc golang-google-protobuf-dev golang-google-grpc-dev "
    "golang-goprotobuf-dev golang-github-hashicorp-go-plugin-dev golang-github-zclconf-go-cty-dev"
)


def missing() -> str | None:
    """Why the Go provider cannot be built here (None: it can)."""
    tools = [tool for tool in ("go", "protoc", "protoc-gen-go-grpc") if shutil.which(tool) is None]
    sources = [
        path
        for path in ("google.golang.org/protobuf/cmd/protoc-gen-go", "github.com/hashicorp/go-plugin")
        if not (DEBIAN_GOPATH / "src" / path).is_dir()
    ]
    if tools or sources:
        return f"{', '.join(tools + sources)} not found; apt-get install {NEEDED}"
    return None


def build(scratch: Path) -> tuple[Path, dict[str, str]]:
    """The directory holding terraform-provider-dbaas built from main.go, and the variables it must run with."""
    gopath = scratch / "gopath"
    bindings = gopath / "src" / PACKAGE / "tfplugin6"
    command_dir = gopath / "src" / PACKAGE / "cmd"
    bindings.mkdir(parents=True)
    command_dir.mkdir(parents=True)
    shutil.copyfile(HERE / "same_schema_provider" / "main.go", command_dir / "main.go")
    # The proto file names no Go package; the bindings need one.
    (bindings / PROTO.name).write_text(PROTO.read_text() + f'\noption go_package = "{PACKAGE}/tfplugin6";\n')
    env = dict(os.environ, GO111MODULE="off", GOPATH=f"{gopath}{os.pathsep}{DEBIAN_GOPATH}", GOFLAGS="")
    env["GOCACHE"] = str(scratch / "gocache")
    tools = gopath / "bin"
    go_build = ["go", "build", "-o"]
    subprocess.run(
        [*go_build, str(tools / "protoc-gen-go"), "google.golang.org/protobuf/cmd/protoc-gen-go"], env=env, check=True
    )
    env["PATH"] = f"{tools}{os.pathsep}{env['PATH']}"
    subprocess.run(
        [
            "protoc",
            f"-I{bindings}",
            "-I/usr/include",
            f"--go_out={gopath / 'src'}",
            f"--go-grpc_out={gopath / 'src'}",
            str(bindings / PROTO.name),
        ],
        env=env,
        check=True,
    )
    plugin_dir = scratch / "same-schema-plugin"
    subprocess.run([*go_build, str(plugin_dir / "terraform-provider-dbaas"), f"{PACKAGE}/cmd"], env=env, check=True)
    answer = scratch / "dbaas-schema-answer.bin"
    answer.write_bytes(schema_answer(plugin_spec()))
    return plugin_dir, {ANSWER_VARIABLE: str(answer)}
