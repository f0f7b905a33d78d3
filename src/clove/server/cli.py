"""The ``clove serve`` command: its flags (one per setting) and how it starts the server."""

from __future__ import annotations

import argparse
from typing import Any

from clove.server.config import CONFIG_VARIABLE, SETTINGS, build, resolve


def add_serve_command(commands: Any) -> None:
    """Add ``serve`` to the ``clove`` command's subparsers."""
    sub = commands.add_parser(
        "serve",
        help="serve SpiceDB's v1 gRPC API and the HTTP API over the database",
        description=(
            "Serve SpiceDB's v1 gRPC API (PermissionsService, SchemaService, WatchService, health, "
            "reflection) "
            "and the HTTP API over one database, on several worker processes. Every setting "
            "can also come from an environment variable (named after it) or a TOML config file; "
            "flags win over the environment, which wins over the file."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument(
        "--config",
        metavar="FILE",
        help=f"TOML file with settings named like the flags (also ${CONFIG_VARIABLE})",
    )
    for setting in SETTINGS:
        variable = f"${setting.variable}"
        if setting.name == "insecure":
            sub.add_argument(setting.flag, action="store_true", help=f"{setting.help} ({variable})")
            continue
        default = "" if setting.default is None else f"; default {setting.default}"
        sub.add_argument(
            setting.flag,
            type=setting.parse,
            metavar=setting.metavar,
            help=f"{setting.help} ({variable}{default})",
        )
    sub.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    from clove.server.supervisor import serve

    flags = {setting.name: getattr(args, setting.name) for setting in SETTINGS}
    return serve(build(resolve(flags, config_file=args.config)))
