"""Caveat evaluation for one request: request context merged under relationship context."""

from __future__ import annotations

from collections.abc import Mapping

from clove.engine.outcome import Outcome
from clove.engine.typesystem import TypeSystem
from clove.relationships import Relationship


class CaveatRunner:
    """Evaluates the caveat of a relationship against the request's context.

    As in SpiceDB, the raw context stored on the relationship is laid over the raw context
    sent with the request, and only then converted to the caveat's parameter types. A caveat
    the schema no longer defines makes the relationship inapplicable.
    """

    __slots__ = ("_converted", "_request", "_typesystem")

    def __init__(self, typesystem: TypeSystem, request: Mapping[str, object] | None) -> None:
        self._typesystem = typesystem
        self._request = request or {}
        # Converted contexts for this request, by (caveat name, relationship context JSON).
        self._converted: dict[tuple[str, str | None], dict[str, object]] = {}

    def outcome(self, rel: Relationship) -> Outcome:
        name = rel.caveat_name
        if name is None:
            return True
        caveat = self._typesystem.caveats.get(name)
        if caveat is None:
            return False
        key = (name, rel.context_json)
        values = self._converted.get(key)
        if values is None:
            stored = rel.caveat_context
            merged = {**self._request, **stored} if stored else self._request
            values = caveat.convert_context(merged)
            self._converted[key] = values
        return caveat.evaluate(values)
