"""Every caveat in the SpiceDB conformance fixtures compiles and evaluates as SpiceDB does.

The fixtures are read directly (with a small regex, not the schema parser) so that a caveat
added to a fixture is compiled here too.
"""

from __future__ import annotations

import re

import pytest
import yaml

from caveats.caveat_helpers import compile_text, parse_type
from clove.caveats import compile_caveat
from clove.schema.ir import Caveat, CaveatParameter
from conformance_data import conformance_files, require_conformance

_CAVEAT = re.compile(r"caveat\s+([\w/]+)\s*\(([^)]*)\)\s*\{(.*?)\}", re.DOTALL)


def _fixture_caveats() -> list[tuple[str, Caveat]]:
    found = []
    for path in conformance_files("spicedb", "*.yaml"):
        document = yaml.safe_load(path.read_text())
        for name, parameters, expression in _CAVEAT.findall(document.get("schema", "")):
            declared = []
            for item in parameters.split(","):
                param_name, type_text = item.split()
                declared.append(CaveatParameter(name=param_name, type=parse_type(type_text)))
            caveat = Caveat(name=name, parameters=tuple(declared), expression=expression.strip())
            found.append((f"{path.stem}:{name}", caveat))
    return found


FIXTURE_CAVEATS = _fixture_caveats()


def test_fixtures_have_caveats() -> None:
    require_conformance()
    assert len(FIXTURE_CAVEATS) >= 10


@pytest.mark.parametrize(("where", "caveat"), FIXTURE_CAVEATS, ids=[w for w, _ in FIXTURE_CAVEATS])
def test_fixture_caveat_compiles(where: str, caveat: Caveat) -> None:
    compiled = compile_caveat(caveat)
    assert compiled.name == caveat.name
    assert list(compiled.parameters) == [parameter.name for parameter in caveat.parameters]
    # Every fixture caveat uses all of its parameters.
    assert compiled.referenced_parameters == set(compiled.parameters)
    # With no context at all, every fixture caveat is conditional on all its parameters.
    assert compiled.evaluate({}) == frozenset(compiled.parameters)


# (parameters, expression, context, expected) taken from the fixtures' relationships and
# assertions: the relationship context merged with the check's context.
FIXTURE_CASES = [
    ("somecondition int", "somecondition == 42", {"somecondition": 42}, True),
    ("somecondition int", "somecondition == 42", {"somecondition": 41}, False),
    ("somecondition int", "somecondition == 42", {}, {"somecondition"}),
    ("somevalue int", "somevalue == 42", {"somevalue": 42}, True),
    ("somevalue int", "somevalue == 42", {"somevalue": 42.0}, True),
    ("somevalue int", "somevalue == 42", {"somevalue": "42"}, True),
    ("somevalue int", "somevalue == 42", {"somevalue": -42}, False),
    (
        "anothercondition string",
        "anothercondition == 'hello world'",
        {"anothercondition": "hello world"},
        True,
    ),
    (
        "anothercondition string",
        "anothercondition == 'hello world'",
        {"anothercondition": "nope"},
        False,
    ),
    ("thirdcondition bool", "thirdcondition", {"thirdcondition": True}, True),
    ("thirdcondition bool", "thirdcondition", {"thirdcondition": False}, False),
    ("memberparam int", "memberparam >= 42", {"memberparam": 43}, True),
    ("memberparam int", "memberparam >= 42", {"memberparam": 3}, False),
    ("teamparam int", "teamparam < 42", {"teamparam": 100}, False),
    ("teamparam int", "teamparam < 42", {"teamparam": 1}, True),
    # caveatexpiration.yaml
    (
        "current_time timestamp, expiration timestamp",
        "current_time < expiration",
        {"expiration": "2024-12-01T00:00:00Z", "current_time": "2023-01-01T00:00:00Z"},
        True,
    ),
    (
        "current_time timestamp, expiration timestamp",
        "current_time < expiration",
        {"expiration": "2023-12-01T00:00:00Z"},
        {"current_time"},
    ),
    (
        "current_time timestamp, expiration timestamp",
        "current_time < expiration",
        {"expiration": "2023-12-01T00:00:00Z", "current_time": "2023-12-01T00:01:00Z"},
        False,
    ),
    (
        "current_time timestamp, expiration timestamp",
        "current_time < expiration",
        {"expiration": "2023-12-01T00:02:00Z", "current_time": "2023-12-01T00:01:00Z"},
        True,
    ),
    # caveatip.yaml
    (
        "user_ip ipaddress, cidr string",
        "user_ip.in_cidr(cidr)",
        {"cidr": "10.0.0.0/8"},
        {"user_ip"},
    ),
    (
        "user_ip ipaddress, cidr string",
        "user_ip.in_cidr(cidr)",
        {"cidr": "10.0.0.0/8", "user_ip": "10.2.3.4"},
        True,
    ),
    (
        "user_ip ipaddress, cidr string",
        "user_ip.in_cidr(cidr)",
        {"cidr": "10.1.0.0/16", "user_ip": "10.1.3.4"},
        True,
    ),
    (
        "user_ip ipaddress, cidr string",
        "user_ip.in_cidr(cidr)",
        {"cidr": "10.0.0.0/8", "user_ip": "1.2.3.4"},
        False,
    ),
    (
        "user_ip ipaddress, cidr string",
        "user_ip.in_cidr(cidr)",
        {"cidr": "10.1.0.0/16", "user_ip": "10.2.3.4"},
        False,
    ),
    # caveatlist.yaml
    ("somelist list<int>", "somelist.all(i, i >= 42)", {"somelist": [42, 43]}, True),
    ("somelist list<int>", "somelist.all(i, i >= 42)", {"somelist": [42, 41]}, False),
    ("somelist list<int>", "somelist.all(i, i >= 42)", {"somelist": []}, True),
    ("somelist list<int>", "somelist.all(i, i >= 42)", {}, {"somelist"}),
    # caveatmap.yaml
    (
        "somemap map<any>",
        "somemap.foo == 42 && somemap.bar < 56",
        {"somemap": {"foo": 42, "bar": 10}},
        True,
    ),
    (
        "somemap map<any>",
        "somemap.foo == 42 && somemap.bar < 56",
        {"somemap": {"foo": 42, "bar": 57}},
        False,
    ),
    (
        "somemap map<any>",
        "somemap.foo == 42 && somemap.bar < 56",
        {"somemap": {"foo": 42, "bar": -2}},
        True,
    ),
    # `bar` is absent but `foo == 42` is already false, so `&&` is decided.
    ("somemap map<any>", "somemap.foo == 42 && somemap.bar < 56", {"somemap": {"foo": 41}}, False),
    (
        "somemap map<any>",
        "somemap.foo == 42 && somemap.bar < 56",
        {"somemap": {"foo": 42, "bar": 56}},
        False,
    ),
    ("somemap map<any>", "somemap.foo == 42 && somemap.bar < 56", {}, {"somemap"}),
    # write_limit (uint)
    ("limit uint, count uint", "count < limit", {"limit": 10, "count": 3}, True),
    ("limit uint, count uint", "count < limit", {"limit": 3, "count": 3}, False),
    ("limit uint, count uint", "count < limit", {"limit": 3}, {"count"}),
    # equals / only_on_tuesday
    (
        "actual string, required string",
        "actual == required",
        {"actual": "a", "required": "a"},
        True,
    ),
    (
        "actual string, required string",
        "actual == required",
        {"actual": "a", "required": "b"},
        False,
    ),
    ("day_of_week string", "day_of_week == 'tuesday'", {"day_of_week": "tuesday"}, True),
    ("day_of_week string", "day_of_week == 'tuesday'", {"day_of_week": "monday"}, False),
]


@pytest.mark.parametrize(("parameters", "expression", "context", "expected"), FIXTURE_CASES)
def test_fixture_caveat_evaluates(
    parameters: str, expression: str, context: dict[str, object], expected: object
) -> None:
    compiled = compile_text(parameters, expression)
    assert compiled.evaluate(compiled.convert_context(context)) == expected


def test_fixture_cases_cover_every_fixture_expression() -> None:
    covered = {expression for _, expression, _, _ in FIXTURE_CASES}
    assert {caveat.expression for _, caveat in FIXTURE_CAVEATS} <= covered
