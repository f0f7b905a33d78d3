"""Modular OpenFGA models: an ``fga.mod`` manifest and its ``module`` files to one validated IR.

::

    # fga.mod                              # core.fga                # tracker/projects.fga
    schema: '1.2'                          module core               module tracker
    contents:                              type user                 extend type organization
      - core.fga                           type organization           relations
      - tracker/projects.fga                 relations                   define can_create: admin
                                               define admin: [user]  type project

Each file declares types, extends types declared in another file (``extend type``) and
declares conditions; the combined model is validated as a whole. A type or condition is
declared once across all files, an extension adds only relations its type does not have yet,
and an extended type must be declared in some file. Content paths are relative to the
manifest. Every error names the file and the 1-based line:column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from clove.errors import SchemaError
from clove.schema.ir import Caveat, Definition, Permission, Relation, Schema
from clove.schema.openfga._dsl_parser import ParsedFile, TypeBlock, parse_file
from clove.schema.openfga._source_map import SourceMap
from clove.schema.openfga._validator import validate_model

MODULAR_SCHEMA_VERSION = "1.2"


@dataclass(frozen=True, slots=True)
class _Manifest:
    contents: tuple[tuple[str, int, int], ...]  # (path as written, line, column)


def load_openfga_modules(path: str | Path) -> Schema:
    """Load the modular model that the ``fga.mod`` manifest at ``path`` describes.

    Raises ``SchemaError`` whose ``file``, ``line`` and ``column`` locate the first problem:
    in the manifest, in a module file, or in the combined model.
    """
    manifest_path = Path(path)
    manifest = _read_manifest(manifest_path)
    files: list[tuple[str, ParsedFile]] = []
    seen: set[Path] = set()
    for name, line, column in manifest.contents:
        file_path = (manifest_path.parent / name).resolve()

        def manifest_error(message: str, line: int = line, column: int = column) -> SchemaError:
            return SchemaError(message, line=line, column=column, file=str(manifest_path))

        if not name.endswith(".fga"):
            raise manifest_error(f"module file `{name}` must end in `.fga`")
        if file_path in seen:
            raise manifest_error(f"module file `{name}` is listed more than once")
        seen.add(file_path)
        try:
            text = file_path.read_text(encoding="utf-8")
        except OSError as error:
            raise manifest_error(
                f"cannot read module file `{name}`: {error.strerror or error}"
            ) from None
        parsed = parse_file(text, file=name)
        if parsed.kind != "module":
            raise SchemaError(
                "a file of a modular model must start with `module <name>`",
                line=parsed.header_span.line,
                column=parsed.header_span.column,
                file=name,
            )
        files.append((name, parsed))
    return _combine(files)


def _read_manifest(path: Path) -> _Manifest:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SchemaError(
            f"cannot read the manifest: {error.strerror or error}", file=file
        ) from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        problem = getattr(error, "problem", None) or "malformed YAML"
        raise SchemaError(f"invalid YAML: {problem}", line=line, column=column, file=file) from None
    if not isinstance(root, yaml.MappingNode):
        raise SchemaError("fga.mod must be a mapping with `schema` and `contents`", file=file)
    fields: dict[str, yaml.Node] = {}
    for key, value in root.value:
        fields[str(key.value)] = value
        if key.value not in ("schema", "contents"):
            raise _node_error(f"unknown field `{key.value}` in fga.mod", key, file)
    schema = fields.get("schema")
    if schema is None:
        raise SchemaError("fga.mod needs `schema: '1.2'`", line=1, column=1, file=file)
    if not isinstance(schema, yaml.ScalarNode) or schema.value != MODULAR_SCHEMA_VERSION:
        value = schema.value if isinstance(schema, yaml.ScalarNode) else "?"
        raise _node_error(
            f"unsupported schema version `{value}`: fga.mod must declare "
            f"`schema: '{MODULAR_SCHEMA_VERSION}'`",
            schema,
            file,
        )
    contents = fields.get("contents")
    if contents is None:
        raise SchemaError(
            "fga.mod needs a `contents` list of .fga files", line=1, column=1, file=file
        )
    if not isinstance(contents, yaml.SequenceNode) or not contents.value:
        raise _node_error("`contents` must be a non-empty list of .fga files", contents, file)
    entries = []
    for item in contents.value:
        if not isinstance(item, yaml.ScalarNode) or not item.value:
            raise _node_error("each `contents` entry must be a file path", item, file)
        entries.append((str(item.value), item.start_mark.line + 1, item.start_mark.column + 1))
    return _Manifest(contents=tuple(entries))


def _node_error(message: str, node: yaml.Node, file: str) -> SchemaError:
    mark = node.start_mark
    return SchemaError(message, line=mark.line + 1, column=mark.column + 1, file=file)


def _combine(files: list[tuple[str, ParsedFile]]) -> Schema:
    """One schema from the files' types, extensions and conditions, in manifest order."""
    source_map = SourceMap()
    for _name, parsed in files:
        source_map.merge(parsed.source_map)
    declared: dict[str, Definition] = {}
    extensions: list[TypeBlock] = []
    caveats: dict[str, Caveat] = {}
    for _name, parsed in files:
        for block in parsed.types:
            name = block.definition.name
            if block.extend:
                extensions.append(block)
            elif name in declared:
                raise source_map.error(
                    f"the type `{name}` is declared in more than one module "
                    f"(first at {_where(source_map, declared[name])})",
                    block.definition,
                )
            else:
                declared[name] = block.definition
        for caveat in parsed.conditions:
            if caveat.name in caveats:
                raise source_map.error(
                    f"the condition `{caveat.name}` is declared in more than one module "
                    f"(first at {_where(source_map, caveats[caveat.name])})",
                    caveat,
                )
            caveats[caveat.name] = caveat
    merged = dict(declared)
    for block in extensions:
        merged[block.definition.name] = _extend(merged, block, source_map)
    for name, definition in merged.items():
        if definition is not declared[name]:
            source_map.note(definition, source_map.locate(declared[name]))
    schema = Schema(
        definitions=tuple(merged.values()), caveats=tuple(caveats.values()), semantics="openfga"
    )
    validate_model(schema, source_map)
    return schema


def _extend(merged: dict[str, Definition], block: TypeBlock, source_map: SourceMap) -> Definition:
    extension = block.definition
    base = merged.get(extension.name)
    if base is None:
        raise source_map.error(
            f"`extend type {extension.name}`: no module declares the type `{extension.name}`",
            extension,
        )
    existing = {relation.name for relation in base.relations}
    existing |= {permission.name for permission in base.permissions}
    members: list[Relation | Permission] = [*extension.relations, *extension.permissions]
    for member in members:
        if member.name in existing:
            raise source_map.error(
                f"the relation `{member.name}` already exists on type `{extension.name}`; an "
                "extension may only add relations",
                member,
            )
    return Definition(
        name=base.name,
        relations=base.relations + extension.relations,
        permissions=base.permissions + extension.permissions,
        doc=base.doc,
        span=base.span,
    )


def _where(source_map: SourceMap, node: object) -> str:
    location = source_map.locate(node)
    return f"{location.file}:{location.span.line}:{location.span.column}"
