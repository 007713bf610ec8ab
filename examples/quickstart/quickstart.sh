#!/usr/bin/env bash
# `make quickstart`: install what is missing, start the control plane in the background (the embedded
# default in ./.dbaas), apply examples/quickstart with the provider from .venv, print the outputs.
# `make quickstart-destroy`: terraform destroy, then stop the control plane and its servers (see README.md here).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
data_dir="$repo/.dbaas"
endpoint="${DBAAS_ENDPOINT:-http://127.0.0.1:8750}"
workdir="$repo/examples/quickstart"
venv="$repo/.venv"

say() { printf '\n==> %s\n' "$*"; }

need_terraform() {
  if ! command -v terraform >/dev/null; then
    echo "terraform >= 1.11 is needed on PATH: https://developer.hashicorp.com/terraform/install" >&2
    exit 1
  fi
  local version
  version=$(terraform version -json 2>/dev/null | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')
  if ! "$venv/bin/python" -c "import sys; v=tuple(map(int,'$version'.split('-')[0].split('.')[:2])); sys.exit(v < (1, 11))"; then
    echo "terraform $version is too old: 1.11 or later is needed" >&2
    exit 1
  fi
}

install_packages() {
  local missing=()
  [ -x /usr/lib/postgresql/15/bin/pg_ctl ] || missing+=(postgresql-15)
  command -v pgbackrest >/dev/null || missing+=(pgbackrest)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  command -v psql >/dev/null || missing+=(postgresql-client-15)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

start_control_plane() {
  if curl -fsS "$endpoint/openapi.json" >/dev/null 2>&1; then
    say "control plane already answers at $endpoint"
    return
  fi
  say "starting the control plane in the background (log: $data_dir/control-plane.log)"
  mkdir -p "$data_dir"
  chmod 0711 "$data_dir"
  # Its own session, no terminal: it outlives this script and a Ctrl-C of it.
  setsid nohup "$venv/bin/dbaas-cp" serve --data-dir "$data_dir" --listen "${endpoint#http://}" \
      </dev/null >>"$data_dir/control-plane.log" 2>&1 &
  echo $! >"$data_dir/control-plane.pid"
  for _ in $(seq 1 100); do
    curl -fsS "$endpoint/openapi.json" >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "the control plane did not start; its log:" >&2
  tail -n 40 "$data_dir/control-plane.log" >&2
  exit 1
}

terraform_env() {
  # dev_overrides: Terraform runs the provider from .venv instead of downloading it from a registry.
  cat >"$data_dir/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "dbaas/dbaas" = "$venv/bin"
  }
  direct {}
}
RC
  export TF_CLI_CONFIG_FILE="$data_dir/terraformrc"
  export DBAAS_ENDPOINT="$endpoint"
  export DBAAS_PROJECT="${DBAAS_PROJECT:-quickstart}"
  if [ -z "${DBAAS_TOKEN:-}" ]; then
    if [ ! -s "$data_dir/quickstart-token" ]; then
      (umask 077 && "$venv/bin/dbaas-cp" token create --project "$DBAAS_PROJECT" --data-dir "$data_dir" \
        >"$data_dir/quickstart-token")
    fi
    DBAAS_TOKEN=$(cat "$data_dir/quickstart-token")
    export DBAAS_TOKEN
  fi
}

apply() {
  install_packages
  make -C "$repo" --no-print-directory bytecode
  need_terraform
  start_control_plane
  terraform_env
  say "terraform apply (examples/quickstart)"
  terraform -chdir="$workdir" apply -auto-approve -input=false
  say "outputs"
  terraform -chdir="$workdir" output
  say "the rows in the fork, read with psql"
  psql "$(terraform -chdir="$workdir" output -raw fork_uri)" -c "SELECT * FROM orders ORDER BY id"
  cat <<TEXT

Done. Terraform state: examples/quickstart/terraform.tfstate; the control plane keeps running
($endpoint, data in .dbaas). To try things, use the same environment:
    export TF_CLI_CONFIG_FILE=$TF_CLI_CONFIG_FILE DBAAS_ENDPOINT=$DBAAS_ENDPOINT DBAAS_PROJECT=$DBAAS_PROJECT
    export DBAAS_TOKEN=\$(cat .dbaas/quickstart-token)
    terraform -chdir=examples/quickstart plan
To destroy the quickstart's resources and stop the control plane and its PostgreSQL servers:
    make quickstart-destroy
TEXT
}

destroy() {
  need_terraform
  terraform_env
  if [ -f "$workdir/terraform.tfstate" ] && curl -fsS "$endpoint/openapi.json" >/dev/null 2>&1; then
    say "terraform destroy (examples/quickstart)"
    terraform -chdir="$workdir" destroy -auto-approve -input=false
  fi
  if [ -s "$data_dir/control-plane.pid" ] && kill "$(cat "$data_dir/control-plane.pid")" 2>/dev/null; then
    say "stopped the control plane"
  fi
  rm -f "$data_dir/control-plane.pid"
  if [ -f "$data_dir/catalog.sqlite" ]; then  # nothing to stop where the quickstart never ran
    "$venv/bin/dbaas-cp" stop-services --data-dir "$data_dir"
  fi
  echo "Everything else the quickstart made is in .dbaas (remove it to start afresh: rm -rf .dbaas)."
}

case "${1:-apply}" in
  apply) apply ;;
  destroy) destroy ;;
  *) echo "usage: $0 [apply|destroy]" >&2; exit 2 ;;
esac
