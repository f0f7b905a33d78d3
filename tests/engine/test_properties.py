"""Properties that tie the three questions together on random data.

For every resource and subject: ``check`` says has exactly when ``lookup_resources`` lists
the resource, and exactly when ``lookup_subjects`` lists the subject or a wildcard that does
not exclude it.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clove

SCHEMA = """
definition user {}

definition group {
    relation member: user | group#member
    relation banned: user
    permission allowed = member - banned
}

definition folder {
    relation parent: folder
    relation viewer: user | group#member
    relation owner: user
    permission view = viewer + owner + parent->view
    permission audit = parent.all(owner)
}

definition document {
    relation parent: folder
    relation viewer: user | user:* | group#allowed
    relation editor: user | group#member
    relation blocked: user | group#member
    permission edit = editor & parent->view
    permission view = (viewer + edit + parent->view) - blocked
    permission strict = viewer & editor
    permission audited = parent->audit
}
"""

USERS = [f"u{i}" for i in range(4)]
GROUPS = [f"g{i}" for i in range(3)]
FOLDERS = [f"f{i}" for i in range(3)]
DOCUMENTS = [f"d{i}" for i in range(3)]

_user = st.sampled_from(USERS)
_group = st.sampled_from(GROUPS)
_folder = st.sampled_from(FOLDERS)
_document = st.sampled_from(DOCUMENTS)

relationship = st.one_of(
    st.builds(lambda g, u: f"group:{g}#member@user:{u}", _group, _user),
    st.builds(lambda g, h: f"group:{g}#member@group:{h}#member", _group, _group),
    st.builds(lambda g, u: f"group:{g}#banned@user:{u}", _group, _user),
    st.builds(lambda f, p: f"folder:{f}#parent@folder:{p}", _folder, _folder),
    st.builds(lambda f, u: f"folder:{f}#viewer@user:{u}", _folder, _user),
    st.builds(lambda f, g: f"folder:{f}#viewer@group:{g}#member", _folder, _group),
    st.builds(lambda f, u: f"folder:{f}#owner@user:{u}", _folder, _user),
    st.builds(lambda d, f: f"document:{d}#parent@folder:{f}", _document, _folder),
    st.builds(lambda d, u: f"document:{d}#viewer@user:{u}", _document, _user),
    st.builds(lambda d: f"document:{d}#viewer@user:*", _document),
    st.builds(lambda d, g: f"document:{d}#viewer@group:{g}#allowed", _document, _group),
    st.builds(lambda d, u: f"document:{d}#editor@user:{u}", _document, _user),
    st.builds(lambda d, g: f"document:{d}#editor@group:{g}#member", _document, _group),
    st.builds(lambda d, u: f"document:{d}#blocked@user:{u}", _document, _user),
    st.builds(lambda d, g: f"document:{d}#blocked@group:{g}#member", _document, _group),
)

QUESTIONS = [
    ("document", "view"),
    ("document", "edit"),
    ("document", "strict"),
    ("document", "audited"),
    ("folder", "view"),
    ("folder", "audit"),
    ("group", "allowed"),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(relationship, max_size=25))
def test_check_agrees_with_lookups(relationships: list[str]) -> None:
    db = clove.open()
    db.write_schema(SCHEMA)
    if relationships:
        db.write_relationships(relationships)
    objects = {"document": DOCUMENTS, "folder": FOLDERS, "group": GROUPS}
    for resource_type, permission in QUESTIONS:
        for user in USERS:
            subject = f"user:{user}"
            listed = {
                r.resource_id: r.permissionship
                for r in db.lookup_resources(resource_type, permission, subject)
            }
            for object_id in objects[resource_type]:
                answer = db.check(f"{resource_type}:{object_id}", permission, subject)
                assert listed.get(object_id, clove.Permissionship.NO) == answer.permissionship, (
                    resource_type,
                    object_id,
                    permission,
                    subject,
                )
        for object_id in objects[resource_type]:
            found = db.lookup_subjects(f"{resource_type}:{object_id}", permission, "user")
            concrete = {s.subject_id for s in found if s.subject_id != "*"}
            wildcard = next((s for s in found if s.subject_id == "*"), None)
            for user in [*USERS, "stranger"]:
                via_lookup = user in concrete or (
                    wildcard is not None and user not in wildcard.excluded_subject_ids
                )
                answer = db.check(f"{resource_type}:{object_id}", permission, f"user:{user}")
                assert bool(answer) == via_lookup, (resource_type, object_id, permission, user)
    db.close()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(relationship, min_size=1, max_size=5), min_size=1, max_size=6),
    st.data(),
)
def test_read_at_old_token_ignores_later_writes(
    batches: list[list[str]], data: st.DataObject
) -> None:
    db = clove.open()
    db.write_schema(SCHEMA)
    tokens = []
    answers = []
    for batch in batches:
        deletes = data.draw(st.lists(relationship, max_size=3))
        tokens.append(db.write_relationships(batch))
        snapshot = clove.Consistency.at_exact_snapshot(tokens[-1])
        answers.append(
            [
                db.check(f"document:{d}", "view", f"user:{u}", consistency=snapshot).permissionship
                for d in DOCUMENTS
                for u in USERS
            ]
        )
        db.delete_relationships(deletes[0]) if deletes else None
    for token, expected in zip(tokens, answers, strict=True):
        snapshot = clove.Consistency.at_exact_snapshot(token)
        again = [
            db.check(f"document:{d}", "view", f"user:{u}", consistency=snapshot).permissionship
            for d in DOCUMENTS
            for u in USERS
        ]
        assert again == expected
    db.close()


CAVEATED_SCHEMA = """
definition user {}

caveat threshold(level int, needed int) { level >= needed }

definition group {
    relation member: user | user with threshold | group#member
}

definition document {
    relation viewer: user | user:* | user with threshold | user:* with threshold | group#member
    relation blocked: user | user with threshold
    permission view = viewer - blocked
    permission both = viewer & blocked
}
"""

_condition = st.sampled_from(
    ["", "[threshold]", '[threshold:{"needed":1}]', '[threshold:{"needed":5,"level":7}]']
)

caveated_relationship = st.one_of(
    st.builds(lambda g, u, c: f"group:{g}#member@user:{u}{c}", _group, _user, _condition),
    st.builds(lambda g, h: f"group:{g}#member@group:{h}#member", _group, _group),
    st.builds(lambda d, u, c: f"document:{d}#viewer@user:{u}{c}", _document, _user, _condition),
    st.builds(lambda d, c: f"document:{d}#viewer@user:*{c}", _document, _condition),
    st.builds(lambda d, g: f"document:{d}#viewer@group:{g}#member", _document, _group),
    st.builds(lambda d, u, c: f"document:{d}#blocked@user:{u}{c}", _document, _user, _condition),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(caveated_relationship, max_size=20), st.sampled_from([None, {"level": 3}]))
def test_caveated_lookups_agree_with_checks(
    relationships: list[str], context: dict[str, int] | None
) -> None:
    has, no = clove.Permissionship.HAS, clove.Permissionship.NO
    db = clove.open()
    db.write_schema(CAVEATED_SCHEMA)
    if relationships:
        db.write_relationships(relationships)
    for permission in ("view", "both"):
        for user in USERS:
            subject = f"user:{user}"
            listed = {
                r.resource_id: r.permissionship
                for r in db.lookup_resources("document", permission, subject, context=context)
            }
            for document in DOCUMENTS:
                answer = db.check(f"document:{document}", permission, subject, context=context)
                assert listed.get(document, no) == answer.permissionship
        for document in DOCUMENTS:
            found = {
                s.subject_id: s
                for s in db.lookup_subjects(
                    f"document:{document}", permission, "user", context=context
                )
            }
            wildcard = found.get("*")
            for user in [*USERS, "stranger"]:
                answer = db.check(
                    f"document:{document}", permission, f"user:{user}", context=context
                )
                concrete = found.get(user)
                if concrete is not None and concrete.permissionship == has:
                    assert answer.permissionship == has
                if concrete is None and wildcard is None:
                    assert answer.permissionship == no
                if answer.permissionship == has:
                    assert (concrete is not None and concrete.permissionship == has) or (
                        wildcard is not None
                        and wildcard.permissionship == has
                        and user not in wildcard.excluded_subject_ids
                    )
    db.close()
