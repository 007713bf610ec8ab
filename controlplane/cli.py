"""dbaas-cp: run the control plane, manage its API tokens, stop its services' servers.

Settings come from flags, `DBAAS_CP_*` variables, the TOML file of `--config` and defaults, in that order
(controlplane/settings.py). A bad setting ends the command with exit code 2 and one line naming it; a
refused command (no catalog there, data directory in use, wrong sealing key) with exit code 1.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from controlplane.settings import Settings, SettingsError, load_settings

Command = Callable[[Settings, argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.data_dir, getattr(args, "listen", None), args.config, log_format=args.log_format)
    except SettingsError as err:
        return _fail(str(err), 2)
    from controlplane.bootstrap import NoCatalog
    from controlplane.catalog.sealing import SealingError
    from controlplane.data_dir_lock import DataDirInUse
    from controlplane.logging_setup import configure_logging

    # serve logs its work; the one-shot commands print their result and only warnings besides.
    configure_logging(settings.log_format, logging.INFO if args.command == "serve" else logging.WARNING)
    run: Command = args.run
    try:
        return run(settings, args)
    except (SettingsError, NoCatalog, DataDirInUse, SealingError) as err:
        return _fail(str(err), 1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dbaas-cp", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('terraform-provider-dbaas')}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = _command(commands, "serve", _serve, "run the control plane (default: ./.dbaas, 127.0.0.1:8750)")
    serve.add_argument("--listen", metavar="HOST:PORT", help="address to serve the API on (default 127.0.0.1:8750)")

    token = commands.add_parser("token", help="manage API tokens")
    tokens = token.add_subparsers(dest="token_command", required=True)
    create = _command(tokens, "create", _create_token, "print a new token for a project")
    create.add_argument("--project", required=True, type=_project_name, help="the project the token belongs to")
    create.add_argument("--description", default="", help="what the token is for")
    create.add_argument("--init", action="store_true", help="start a new catalog if there is none yet")
    _command(tokens, "list", _list_tokens, "list tokens: id, project (* for admin), created, description")
    revoke = _command(tokens, "revoke", _revoke_token, "revoke a token: it is refused from the next request on")
    revoke.add_argument("id", type=int, help="the token's id, as `token list` shows it")

    _command(commands, "stop-services", _stop_services, "stop the PostgreSQL servers of every service")
    return parser


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, run: Command, summary: str
) -> argparse.ArgumentParser:
    """A subcommand with the options every command takes."""
    parser = commands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(run=run)
    parser.add_argument("--data-dir", type=Path, help="where the catalog, regions and services live (default ./.dbaas)")
    parser.add_argument("--config", type=Path, help="a TOML file of settings (see controlplane/settings.py)")
    parser.add_argument("--log-format", choices=["text", "json"], help="log lines as text (default) or JSON objects")
    return parser


def _fail(message: str, code: int) -> int:
    print(f"dbaas-cp: error: {message}", file=sys.stderr)
    return code


def _project_name(value: str) -> str:
    """argparse refuses what this raises with exit code 2, as for any other bad argument."""
    from controlplane.api.models.services import NAME_RULE, is_valid_name

    if not is_valid_name(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a project name: {NAME_RULE.lower()}")
    return value


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from controlplane.api.app import create_app
    from controlplane.bootstrap import build_runtime, prepare_directories
    from controlplane.data_dir_lock import data_dir_lock

    prepare_directories(settings)
    with data_dir_lock(settings.data_dir):
        runtime = build_runtime(settings)
        runtime.runner.start()
        runtime.scheduler.start()
        runtime.replicator.start()
        runtime.gap_watch.start()
        runtime.binlog_archiver.start()
        try:
            # log_config None: uvicorn's lines go through our handler; its access log gives way to the
            # API's own (api/request_id.py), which carries request ids.
            app = create_app(runtime)
            # What exists now lives as long as the process: frozen, it is no longer walked by every full collection
            # that the requests' allocations set off (~4% of a GET's CPU).
            gc.collect()
            gc.freeze()
            uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
        finally:
            runtime.binlog_archiver.stop()
            runtime.gap_watch.stop()
            runtime.replicator.stop()
            runtime.scheduler.stop()
            runtime.runner.stop()
    return 0


def _existing_catalog(settings: Settings, *, create: bool = False) -> None:
    """Refuse to go on without a catalog unless `create`; then make sure the data directory is there."""
    from controlplane.bootstrap import prepare_directories, require_catalog

    if not create:
        require_catalog(settings)
    prepare_directories(settings)


def _create_token(settings: Settings, args: argparse.Namespace) -> int:
    from controlplane.bootstrap import NoCatalog, open_catalog
    from controlplane.catalog.db import transaction
    from controlplane.catalog.tokens import create_token

    try:
        _existing_catalog(settings, create=args.init)
    except NoCatalog as err:
        raise NoCatalog(f"{err}, or --init to start a new catalog there") from None
    with transaction(open_catalog(settings)) as session:
        token = create_token(session, project=args.project, description=args.description)
    print(token)
    return 0


def _list_tokens(settings: Settings, args: argparse.Namespace) -> int:
    from controlplane.bootstrap import open_catalog
    from controlplane.catalog.db import transaction
    from controlplane.catalog.tokens import list_tokens

    _existing_catalog(settings)
    with transaction(open_catalog(settings)) as session:
        rows = [
            (str(token.id), token.project or "*", token.created_at.isoformat(timespec="seconds"), token.description)
            for token in list_tokens(session)
        ]
    table = [_TOKEN_COLUMNS, *rows]
    # Aligned columns; the description, free text, goes last and unpadded.
    widths = [max(len(row[column]) for row in table) for column in range(len(_TOKEN_COLUMNS) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return 0


_TOKEN_COLUMNS = ("ID", "PROJECT", "CREATED", "DESCRIPTION")


def _revoke_token(settings: Settings, args: argparse.Namespace) -> int:
    from controlplane.bootstrap import open_catalog
    from controlplane.catalog.db import transaction
    from controlplane.catalog.tokens import revoke_token

    _existing_catalog(settings)
    with transaction(open_catalog(settings)) as session:
        revoked = revoke_token(session, token_id=args.id)
    if not revoked:
        return _fail(f"no token with id {args.id} in the catalog of {settings.data_dir}", 1)
    print(f"revoked token {args.id}")
    return 0


def _stop_services(settings: Settings, args: argparse.Namespace) -> int:
    from controlplane.bootstrap import require_catalog, stop_service_servers

    require_catalog(settings)
    print(f"stopped {stop_service_servers(settings)} database server(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
