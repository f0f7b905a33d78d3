"""Validation files: assertions with context, expected-relations blocks, and broken input."""

from __future__ import annotations

from pathlib import Path

from clove.validationfile import run_validation_file

FILE = """
schema: >-
  definition user {}
  caveat on_day(day string) { day == 'tuesday' }
  definition document {
    relation viewer: user | user:* | user with on_day
    relation banned: user
    permission view = viewer - banned
  }
relationships: |
  document:public#viewer@user:*
  document:public#banned@user:eve
  document:private#viewer@user:alice
  document:private#viewer@user:bob[on_day]
assertions:
  assertTrue:
    - document:public#view@user:anyone
    - 'document:private#view@user:bob with {"day": "tuesday"}'
  assertFalse:
    - document:public#view@user:eve
    - 'document:private#view@user:bob with {"day": "monday"}'
  assertCaveated:
    - document:private#view@user:bob
validation:
  document:public#view:
    - "[user:* - {user:eve}] is <document:public#viewer>"
  document:private#view:
    - "[user:alice] is <document:private#viewer>"
    - "[user:bob[...]] is <document:private#viewer>"
"""


def test_assertions_and_expected_relations_pass(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(FILE)
    report = run_validation_file(path)
    assert [o for o in report.outcomes if not o.passed] == []
    assert report.passed == 7


def test_a_wrong_expected_relation_fails_with_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(FILE.replace("[user:* - {user:eve}]", "[user:*]"))
    report = run_validation_file(path)
    (failure,) = [o for o in report.outcomes if not o.passed]
    assert failure.kind == "validation"
    assert failure.expected == "user:*"
    assert failure.actual == "user:* - {user:eve}"


def test_a_broken_schema_is_one_failure_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("schema: |\n  definition user {}\n  definition doc { relation r: usr }\n")
    report = run_validation_file(path)
    (failure,) = report.outcomes
    assert not failure.passed
    assert "2:" in failure.error


def test_unreadable_yaml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("schema: [unclosed\n")
    report = run_validation_file(path)
    assert report.failed == 1


NESTED = """
schema: |
  definition user {}
  definition group {
    relation member: user | group#member
  }
  definition document {
    relation viewer: group#member
    permission view = viewer
  }
relationships: |
  document:doc#viewer@group:all#member
  group:all#member@group:eng#member
  group:eng#member@user:ann
validation:
  document:doc#view:
    - "[group:all#member] is <document:doc#viewer>"
    - "[group:eng#member] is <group:all#member>"
    - "[user:ann] is <group:eng#member>"
"""


def test_expected_relations_list_the_subject_sets_met_on_the_way(tmp_path: Path) -> None:
    path = tmp_path / "nested.yaml"
    path.write_text(NESTED)
    report = run_validation_file(path)
    assert [(o.expected, o.actual) for o in report.outcomes if not o.passed] == []
    assert report.passed == 1
