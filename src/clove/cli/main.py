"""``clove``: validate files, ask questions and manage schema and relationships from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import clove
from clove.engine.expand import ExpandNode
from clove.errors import CloveError

DEFAULT_DB = os.environ.get("CLOVE_DB", "sqlite://clove.db")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except CloveError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clove", description="Clove: Zanzibar-style authorization, embedded."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        return sub

    def with_db(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--db",
            default=DEFAULT_DB,
            help=(
                "database URL: memory, sqlite:///path or postgresql://... "
                f"(default {DEFAULT_DB}, or $CLOVE_DB)"
            ),
        )

    def with_context(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--context", help="caveat context as a JSON object")

    sub = command(
        "validate", "run SpiceDB validation files and OpenFGA test files; exit 0 only if all pass"
    )
    sub.add_argument("files", nargs="+", metavar="FILE")
    sub.add_argument("--json", action="store_true", help="print a machine-readable report")
    sub.set_defaults(run=_validate)

    from clove.server.cli import add_serve_command

    add_serve_command(commands)

    sub = command("demo", "write a small schema and data, then answer a few questions")
    with_db(sub)
    sub.set_defaults(run=_demo)

    sub = command("check", "may SUBJECT do PERMISSION on RESOURCE?")
    with_db(sub)
    with_context(sub)
    sub.add_argument("resource", help="type:id")
    sub.add_argument("permission")
    sub.add_argument("subject", help="type:id or type:id#relation")
    sub.set_defaults(run=_check)

    sub = command("lookup-resources", "resources of TYPE on which SUBJECT has PERMISSION")
    with_db(sub)
    with_context(sub)
    sub.add_argument("resource_type")
    sub.add_argument("permission")
    sub.add_argument("subject")
    sub.add_argument("--limit", type=int)
    sub.add_argument("--after", help="continue after this resource id")
    sub.set_defaults(run=_lookup_resources)

    sub = command("lookup-subjects", "subjects of TYPE with PERMISSION on RESOURCE")
    with_db(sub)
    with_context(sub)
    sub.add_argument("resource")
    sub.add_argument("permission")
    sub.add_argument("subject_type", help="type or type#relation")
    sub.add_argument("--limit", type=int)
    sub.add_argument("--after", help="continue after this subject id")
    sub.set_defaults(run=_lookup_subjects)

    sub = command("expand", "print the userset tree of RESOURCE#PERMISSION")
    with_db(sub)
    sub.add_argument("resource")
    sub.add_argument("permission")
    sub.set_defaults(run=_expand)

    schema = command("schema", "write, read or validate the schema")
    schema_commands = schema.add_subparsers(title="schema commands", metavar="COMMAND")
    sub = schema_commands.add_parser("write", help="store the schema in FILE")
    with_db(sub)
    sub.add_argument("file")
    sub.set_defaults(run=_schema_write)
    sub = schema_commands.add_parser("read", help="print the stored schema")
    with_db(sub)
    sub.set_defaults(run=_schema_read)
    sub = schema_commands.add_parser("validate", help="parse and type-check FILE")
    sub.add_argument("file")
    sub.set_defaults(run=_schema_validate)
    sub = schema_commands.add_parser(
        "convert", help="print FILE (any schema language) in another schema language"
    )
    sub.add_argument("file", metavar="FILE", help="schema file, or - for stdin")
    sub.add_argument(
        "--to",
        required=True,
        choices=["spicedb", "openfga", "openfga-json", "zanzibar"],
        help="the language to write",
    )
    sub.add_argument(
        "--from",
        dest="source",
        choices=["spicedb", "openfga", "openfga-json", "zanzibar"],
        help="the language of FILE (detected when left out)",
    )
    sub.set_defaults(run=_schema_convert)

    rels = command("relationships", "write, read or delete relationships")
    rel_commands = rels.add_subparsers(title="relationships commands", metavar="COMMAND")
    sub = rel_commands.add_parser("write", help="touch relationships (arguments, or - for stdin)")
    with_db(sub)
    sub.add_argument("relationships", nargs="+", metavar="RELATIONSHIP")
    sub.set_defaults(run=_relationships_write)
    sub = rel_commands.add_parser("read", help="print relationships matching FILTER")
    with_db(sub)
    sub.add_argument("filter", help="type[:id][#relation][@subject_type[:id][#relation]]")
    sub.add_argument("--limit", type=int)
    sub.set_defaults(run=_relationships_read)
    sub = rel_commands.add_parser("delete", help="delete relationships matching FILTER")
    with_db(sub)
    sub.add_argument("filter")
    sub.set_defaults(run=_relationships_delete)
    sub = rel_commands.add_parser(
        "import",
        help="create relationships from FILE (one per line, or - for stdin), all or nothing",
    )
    with_db(sub)
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--batch-size", type=int, default=10_000)
    sub.add_argument(
        "--progress", action="store_true", help="show progress even when stderr is not a TTY"
    )
    sub.set_defaults(run=_relationships_import)
    sub = rel_commands.add_parser("export", help="print every relationship, one per line")
    with_db(sub)
    sub.add_argument("filter", nargs="?", help="only relationships matching this filter")
    sub.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    sub.add_argument(
        "--progress", action="store_true", help="show progress even when stderr is not a TTY"
    )
    sub.set_defaults(run=_relationships_export)
    _history_commands(command, with_db)
    return parser


def _history_commands(
    command: Callable[[str, str], argparse.ArgumentParser],
    with_db: Callable[[argparse.ArgumentParser], None],
) -> None:
    """``watch``, ``gc`` and ``migrate``: the commands about a store's history and format."""
    sub = command("watch", "print every change as it commits, until interrupted")
    with_db(sub)
    sub.add_argument("--after", metavar="TOKEN", help="start just after this token (default: now)")
    sub.add_argument("--type", help="only relationships of this resource type")
    sub.add_argument("--relation", help="only relationships of this relation")
    sub.add_argument("--subject-type", help="only relationships with subjects of this type")
    sub.add_argument("--no-schema", action="store_true", help="leave schema changes out")
    sub.add_argument("--json", action="store_true", help="one JSON object per change")
    sub.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="stop after this long without a change"
    )
    sub.set_defaults(run=_watch)

    sub = command("gc", "delete history older than the GC window, and expired relationships")
    with_db(sub)
    sub.add_argument(
        "--window", type=_duration, default=None, help="history to keep, e.g. 24h, 30m, 90s"
    )
    sub.set_defaults(run=_gc)

    sub = command("migrate", "bring the database's storage format up to this version of Clove")
    with_db(sub)
    sub.add_argument(
        "--status", action="store_true", help="only report the storage format and what is pending"
    )
    sub.add_argument(
        "--dry-run", action="store_true", help="say what would be done; change nothing"
    )
    sub.set_defaults(run=_migrate)


def _context(args: argparse.Namespace) -> dict[str, Any] | None:
    if not getattr(args, "context", None):
        return None
    try:
        value = json.loads(args.context)
    except json.JSONDecodeError as error:
        raise clove.ContextError(f"--context is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise clove.ContextError("--context must be a JSON object")
    return value


def _validate(args: argparse.Namespace) -> int:
    from clove.validationfile import Report, run_validation_file

    report = Report()
    for file in args.files:
        report.outcomes.extend(run_validation_file(file).outcomes)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for outcome in report.outcomes:
            if not outcome.passed:
                detail = outcome.error or f"expected {outcome.expected}, got {outcome.actual}"
                where = f"{outcome.file}[{outcome.document}]"
                print(f"FAIL {where} {outcome.kind} {outcome.text}: {detail}")
        print(f"{report.passed} passed, {report.failed} failed")
    return 0 if report.ok else 1


DEMO_SCHEMA = """
definition user {}

definition group {
    relation member: user | group#member
}

caveat on_network(client_ip ipaddress, allowed string) {
    client_ip.in_cidr(allowed)
}

definition folder {
    relation parent: folder
    relation viewer: user | group#member
    permission view = viewer + parent->view
}

definition document {
    relation parent: folder
    relation viewer: user | group#member | user with on_network
    relation banned: user
    permission view = (viewer + parent->view) - banned
}
"""

DEMO_RELATIONSHIPS = [
    "group:eng#member@user:alice",
    "group:staff#member@group:eng#member",
    "folder:root#viewer@group:staff#member",
    "folder:specs#parent@folder:root",
    "document:readme#parent@folder:specs",
    "document:readme#banned@user:mallory",
    "folder:root#viewer@user:mallory",
    'document:payroll#viewer@user:bob[on_network:{"allowed":"10.0.0.0/8"}]',
]


def _demo(args: argparse.Namespace) -> int:
    with clove.open(args.db) as db:
        db.write_schema(DEMO_SCHEMA)
        token = db.write_relationships(DEMO_RELATIONSHIPS)
        print(f"database: {args.db}")
        print(f"wrote {len(DEMO_RELATIONSHIPS)} relationships (token {token})")
        consistency = clove.Consistency.at_least_as_fresh(token)
        questions: list[tuple[str, str, str, dict[str, Any] | None]] = [
            ("document:readme", "view", "user:alice", None),
            ("document:readme", "view", "user:mallory", None),
            ("document:payroll", "view", "user:bob", None),
            ("document:payroll", "view", "user:bob", {"client_ip": "10.1.2.3"}),
            ("document:payroll", "view", "user:bob", {"client_ip": "192.168.0.1"}),
        ]
        for resource, permission, subject, context in questions:
            result = db.check(
                resource, permission, subject, context=context, consistency=consistency
            )
            extra = (
                f" (missing {', '.join(result.missing_context)})" if result.missing_context else ""
            )
            with_context = f" with {json.dumps(context)}" if context else ""
            question = f"{resource}#{permission}@{subject}{with_context}"
            print(f"check {question}: {result.permissionship}{extra}")
        found = db.lookup_resources("document", "view", "user:alice", consistency=consistency)
        print("alice can view:", ", ".join(r.resource_id for r in found) or "nothing")
        subjects = db.lookup_subjects("document:readme", "view", "user", consistency=consistency)
        print("readme viewers:", ", ".join(s.subject_id for s in subjects) or "nobody")
    return 0


def _check(args: argparse.Namespace) -> int:
    with clove.open(args.db) as db:
        result = db.check(args.resource, args.permission, args.subject, context=_context(args))
        extra = f" (missing {', '.join(result.missing_context)})" if result.missing_context else ""
        print(f"{result.permissionship}{extra}")
        return 0 if result else 1


def _lookup_resources(args: argparse.Namespace) -> int:
    with clove.open(args.db) as db:
        for found in db.lookup_resources(
            args.resource_type,
            args.permission,
            args.subject,
            context=_context(args),
            limit=args.limit,
            after=args.after,
        ):
            print(f"{args.resource_type}:{found.resource_id}\t{found.permissionship}")
    return 0


def _lookup_subjects(args: argparse.Namespace) -> int:
    subject_type, _, relation = args.subject_type.partition("#")
    with clove.open(args.db) as db:
        for found in db.lookup_subjects(
            args.resource,
            args.permission,
            subject_type,
            subject_relation=relation or None,
            context=_context(args),
            limit=args.limit,
            after=args.after,
        ):
            excluded = (
                f" - {{{', '.join(found.excluded_subject_ids)}}}"
                if found.excluded_subject_ids
                else ""
            )
            print(f"{subject_type}:{found.subject_id}{excluded}\t{found.permissionship}")
    return 0


def _print_tree(node: ExpandNode, indent: int = 0) -> None:
    pad = "  " * indent
    print(f"{pad}{node.object}#{node.relation} [{node.operation}]")
    for subject in node.subjects:
        print(f"{pad}  {subject}")
    for child in node.children:
        _print_tree(child, indent + 1)


def _expand(args: argparse.Namespace) -> int:
    with clove.open(args.db) as db:
        _print_tree(db.expand(args.resource, args.permission))
    return 0


def _schema_write(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    with clove.open(args.db) as db:
        print(db.write_schema(text))
    return 0


def _schema_read(args: argparse.Namespace) -> int:
    with clove.open(args.db) as db:
        print(db.read_schema(), end="")
    return 0


def _schema_validate(args: argparse.Namespace) -> int:
    from clove.engine.typesystem import TypeSystem
    from clove.schema.spicedb import parse_schema

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    schema = parse_schema(text)
    TypeSystem(schema)
    print(f"ok: {len(schema.definitions)} definitions, {len(schema.caveats)} caveats")
    return 0


def _schema_convert(args: argparse.Namespace) -> int:
    from clove.schema.convert import convert

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    print(convert(text, to=args.to, source_syntax=args.source), end="")
    return 0


def _relationships_write(args: argparse.Namespace) -> int:
    lines: list[str] = []
    for item in args.relationships:
        source = sys.stdin.read().splitlines() if item == "-" else [item]
        lines.extend(line.strip() for line in source if line.strip())
    with clove.open(args.db) as db:
        print(db.write_relationships(lines))
    return 0


def _relationships_read(args: argparse.Namespace) -> int:
    with clove.open(args.db) as db:
        for rel in db.read_relationships(args.filter, consistency="full", limit=args.limit):
            print(rel)
    return 0


def _relationships_delete(args: argparse.Namespace) -> int:
    with clove.open(args.db) as db:
        print(db.delete_relationships(args.filter))
    return 0


def _relationships_import(args: argparse.Namespace) -> int:
    from clove.cli._progress import Progress, relationship_lines

    progress = Progress("imported", enabled=args.progress or sys.stderr.isatty())
    with clove.open(args.db) as db:
        if args.file == "-":
            lines = relationship_lines(sys.stdin, progress)
            token = db.import_relationships(lines, batch_size=args.batch_size)
        else:
            with Path(args.file).open(encoding="utf-8") as source:
                lines = relationship_lines(source, progress)
                token = db.import_relationships(lines, batch_size=args.batch_size)
    progress.finish()
    print(token)
    return 0


def _relationships_export(args: argparse.Namespace) -> int:
    from clove.cli._progress import Progress

    progress = Progress("exported", enabled=args.progress or sys.stderr.isatty())
    with clove.open(args.db) as db:
        found = db.export_relationships(consistency="full", filter=args.filter)
        if args.output is None:
            for rel in found:
                sys.stdout.write(f"{rel}\n")
                progress.advance()
        else:
            with Path(args.output).open("w", encoding="utf-8") as output:
                for rel in found:
                    output.write(f"{rel}\n")
                    progress.advance()
    progress.finish()
    return 0


def _watch(args: argparse.Namespace) -> int:
    from clove.relationships import RelationshipFilter

    filter = None
    if args.type or args.relation or args.subject_type:
        filter = RelationshipFilter(
            resource_type=args.type, relation=args.relation, subject_type=args.subject_type
        )
    try:
        with (
            clove.open(args.db) as db,
            db.watch(
                after=args.after,
                filter=filter,
                schema_changes=not args.no_schema,
                timeout=args.timeout,
            ) as watch,
        ):
            for event in watch:
                _print_event(event, as_json=args.json)
    except KeyboardInterrupt:
        return 0
    return 0


def _print_event(event: clove.WatchEvent, *, as_json: bool) -> None:
    if as_json:
        record = {
            "revision": event.revision,
            "token": event.token,
            "committed_at": event.committed_at.isoformat(),
            "updates": [
                {"operation": str(update.operation), "relationship": str(update.relationship)}
                for update in event.updates
            ],
            "schema": event.schema_text,
        }
        print(json.dumps(record), flush=True)
        return
    if event.schema_text is not None:
        print(f"{event.token}\tschema\t{len(event.schema_text.splitlines())} lines", flush=True)
    for update in event.updates:
        print(f"{event.token}\t{update.operation}\t{update.relationship}", flush=True)


def _duration(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 24h, 30m, 90s)") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"a duration cannot be negative: {text!r}")
    return timedelta(seconds=seconds)


def _gc(args: argparse.Namespace) -> int:
    from clove.storage.history import DEFAULT_GC_WINDOW, describe_window

    window = DEFAULT_GC_WINDOW if args.window is None else args.window
    with clove.open(args.db, gc_window=window) as db:
        report = db.collect_garbage()
    print(
        f"kept revisions from {report.oldest_revision} (window {describe_window(window)});"
        f" removed {report.versions} old versions, {report.revisions} revision records,"
        f" {report.schemas} old schemas, {report.expired} expired relationships"
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from clove.migrations import migrate, migration_status

    status = migration_status(args.db)
    if status.latest == 0:
        print(f"{args.db}: in-memory databases need no migration")
        return 0
    described = f"storage format {status.current}" if status.current else "no Clove store yet"
    if args.status or args.dry_run or not status.pending:
        if status.pending:
            verb = "would apply" if args.dry_run else "pending:"
            print(
                f"{args.db}: {described}; {verb} {status.pending} migration(s)"
                f" to reach format {status.latest}"
                + ("" if args.dry_run else f" (run `clove migrate --db {args.db}`)")
            )
        else:
            print(f"{args.db}: storage format {status.current}, up to date")
        return 0
    after = migrate(args.db)
    print(
        f"{args.db}: applied {after.current - status.current} migration(s);"
        f" storage format is now {after.current}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
