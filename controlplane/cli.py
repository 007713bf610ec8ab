"""dbaas-cp: run the control plane, and make project tokens."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from controlplane.settings import Settings, SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dbaas-cp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the control plane (embedded default: ./.dbaas, 127.0.0.1:8750)")
    _common(serve)
    serve.add_argument("--listen", metavar="HOST:PORT", help="address to serve the API on (default 127.0.0.1:8750)")

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="print a new token for a project")
    _common(create)
    create.add_argument("--project", required=True, type=_project_name, help="the project the token belongs to")
    create.add_argument("--description", default="", help="what the token is for")

    stop = commands.add_parser("stop-services", help="stop the PostgreSQL servers of every service")
    _common(stop)

    args = parser.parse_args(argv)
    # serve logs its work; the one-shot commands print their result and only warnings besides.
    logging.basicConfig(
        level=logging.INFO if args.command == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(args.data_dir, getattr(args, "listen", None), args.config)
    except SettingsError as err:
        parser.error(str(err))
    from controlplane.catalog.sealing import SealingError

    try:
        if args.command == "serve":
            return _serve(settings)
        if args.command == "stop-services":
            from controlplane.bootstrap import stop_service_servers

            print(f"stopped {stop_service_servers(settings)} PostgreSQL server(s)")
            return 0
        return _create_token(settings, args.project, args.description)
    except SealingError as err:
        print(f"dbaas-cp: error: {err}", file=sys.stderr)
        return 1


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where the catalog, regions and services live (default ./.dbaas)")
    parser.add_argument("--config", type=Path, help="a TOML file of settings (see controlplane/settings.py)")


def _project_name(value: str) -> str:
    """argparse refuses what this raises with exit code 2, as for any other bad argument."""
    from controlplane.api.models.services import NAME_RULE, is_valid_name

    if not is_valid_name(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a project name: {NAME_RULE.lower()}")
    return value


def _serve(settings: Settings) -> int:
    import uvicorn

    from controlplane.api.app import create_app
    from controlplane.bootstrap import build_runtime

    runtime = build_runtime(settings)
    runtime.runner.start()
    runtime.scheduler.start()
    runtime.replicator.start()
    try:
        uvicorn.run(create_app(runtime), host=settings.host, port=settings.port, log_level="info")
    finally:
        runtime.replicator.stop()
        runtime.scheduler.stop()
        runtime.runner.stop()
    return 0


def _create_token(settings: Settings, project: str, description: str) -> int:
    from controlplane.bootstrap import open_catalog, prepare_directories
    from controlplane.catalog.db import transaction
    from controlplane.catalog.tokens import create_token

    prepare_directories(settings)
    with transaction(open_catalog(settings)) as session:
        token = create_token(session, project=project, description=description)
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
