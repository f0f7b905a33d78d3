"""Modular OpenFGA models: fga.mod manifests and module files combine into one IR."""

# The error table keeps each case on one line, so that a case reads as a unit.
# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path

import pytest

from clove.errors import SchemaError
from clove.schema.ir import (
    AllowedSubject,
    Arrow,
    Definition,
    Permission,
    Relation,
    RelationRef,
    This,
    Union,
)
from clove.schema.openfga import load_openfga_modules

MANIFEST = "schema: '1.2'\ncontents:\n  - core.fga\n  - tracker/projects.fga\n"
CORE = """module core

type user

type organization
  relations
    define admin: [user]
    define member: [user] or admin
"""
PROJECTS = """module tracker

extend type organization
  relations
    define can_create_project: admin

type project
  relations
    define organization: [organization]
    define viewer: member from organization
"""


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder / "fga.mod"


def _project(tmp_path: Path) -> Path:
    return _write(
        tmp_path, {"fga.mod": MANIFEST, "core.fga": CORE, "tracker/projects.fga": PROJECTS}
    )


def test_modules_combine_in_manifest_order(tmp_path: Path) -> None:
    schema = load_openfga_modules(_project(tmp_path))
    user = AllowedSubject(type="user")
    assert schema.definitions == (
        Definition(name="user"),
        Definition(
            name="organization",
            relations=(
                Relation(name="admin", allowed=(user,)),
                Relation(
                    name="member",
                    allowed=(user,),
                    rewrite=Union(children=(This(), RelationRef(name="admin"))),
                ),
            ),
            permissions=(
                Permission(name="can_create_project", expression=RelationRef(name="admin")),
            ),
        ),
        Definition(
            name="project",
            relations=(
                Relation(name="organization", allowed=(AllowedSubject(type="organization"),)),
            ),
            permissions=(
                Permission(
                    name="viewer", expression=Arrow(tupleset="organization", target="member")
                ),
            ),
        ),
    )


def test_accepts_a_string_path(tmp_path: Path) -> None:
    assert load_openfga_modules(str(_project(tmp_path))).definition("project") is not None


# (id, files to override, file, line, column, message)
ERRORS = [
    (
        "manifest_version",
        {"fga.mod": "schema: '1.1'\ncontents:\n  - core.fga\n"},
        "fga.mod",
        1,
        9,
        "unsupported schema version `1.1`: fga.mod must declare `schema: '1.2'`",
    ),
    (
        "manifest_unknown_field",
        {"fga.mod": "schema: '1.2'\nfiles: []\n"},
        "fga.mod",
        2,
        1,
        "unknown field `files` in fga.mod",
    ),
    (
        "manifest_no_contents",
        {"fga.mod": "schema: '1.2'\n"},
        "fga.mod",
        1,
        1,
        "fga.mod needs a `contents` list of .fga files",
    ),
    (
        "manifest_empty_contents",
        {"fga.mod": "schema: '1.2'\ncontents: []\n"},
        "fga.mod",
        2,
        11,
        "`contents` must be a non-empty list of .fga files",
    ),
    (
        "manifest_not_yaml",
        {"fga.mod": "schema: [\n"},
        "fga.mod",
        2,
        1,
        "invalid YAML: expected the node content, but found '<stream end>'",
    ),
    (
        "manifest_wrong_suffix",
        {"fga.mod": "schema: '1.2'\ncontents:\n  - core.txt\n"},
        "fga.mod",
        3,
        5,
        "module file `core.txt` must end in `.fga`",
    ),
    (
        "manifest_listed_twice",
        {"fga.mod": "schema: '1.2'\ncontents:\n  - core.fga\n  - ./core.fga\n"},
        "fga.mod",
        4,
        5,
        "module file `./core.fga` is listed more than once",
    ),
    (
        "missing_file",
        {"fga.mod": "schema: '1.2'\ncontents:\n  - core.fga\n  - gone.fga\n"},
        "fga.mod",
        4,
        5,
        "cannot read module file `gone.fga`: No such file or directory",
    ),
    (
        "model_file_in_modules",
        {"core.fga": "model\n  schema 1.1\ntype user\n"},
        "core.fga",
        2,
        10,
        "a file of a modular model must start with `module <name>`",
    ),
    (
        "syntax_error_in_module",
        {
            "core.fga": "module core\ntype user\ntype organization\n  relations\n    define admin [user]\n"
        },
        "core.fga",
        5,
        18,
        "expected `:`, found `[`",
    ),
    (
        "type_in_two_modules",
        {"tracker/projects.fga": "module tracker\ntype user\n"},
        "tracker/projects.fga",
        2,
        6,
        "the type `user` is declared in more than one module (first at core.fga:3:6)",
    ),
    (
        "extend_undeclared",
        {
            "tracker/projects.fga": "module tracker\nextend type team\n  relations\n    define m: [user]\n"
        },
        "tracker/projects.fga",
        2,
        13,
        "`extend type team`: no module declares the type `team`",
    ),
    (
        "extension_redefines",
        {
            "tracker/projects.fga": "module tracker\nextend type organization\n  relations\n    define admin: [user]\n"
        },
        "tracker/projects.fga",
        4,
        12,
        "the relation `admin` already exists on type `organization`; an extension may only add relations",
    ),
    (
        "condition_in_two_modules",
        {
            "core.fga": CORE.replace("[user] or", "[user with c] or")
            + "condition c(x: int) {\n  x < 1\n}\n",
            "tracker/projects.fga": PROJECTS + "condition c(x: int) {\n  x < 2\n}\n",
        },
        "tracker/projects.fga",
        11,
        11,
        "the condition `c` is declared in more than one module (first at core.fga:9:11)",
    ),
    (
        "validation_error_names_its_file",
        {"tracker/projects.fga": PROJECTS.replace("member from", "nope from")},
        "tracker/projects.fga",
        10,
        20,
        "the relation `nope` does not exist on any type of `organization` (`organization`)",
    ),
]


@pytest.mark.parametrize(
    ("files", "file", "line", "column", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in ERRORS],
)
def test_error(
    tmp_path: Path, files: dict[str, str], file: str, line: int, column: int, message: str
) -> None:
    all_files = {"fga.mod": MANIFEST, "core.fga": CORE, "tracker/projects.fga": PROJECTS}
    all_files.update(files)
    manifest = _write(tmp_path, all_files)
    with pytest.raises(SchemaError) as caught:
        load_openfga_modules(manifest)
    error = caught.value
    expected_file = str(manifest) if file == "fga.mod" else file
    assert (error.file, error.line, error.column, error.message) == (
        expected_file,
        line,
        column,
        message,
    )
    assert str(error) == f"{expected_file}:{line}:{column}: {message}"


def test_missing_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "fga.mod"
    with pytest.raises(SchemaError) as caught:
        load_openfga_modules(manifest)
    assert str(caught.value) == f"{manifest}: cannot read the manifest: No such file or directory"
