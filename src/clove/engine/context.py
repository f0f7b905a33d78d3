"""Caveat evaluation for one request: request context merged under relationship context."""

from __future__ import annotations

from collections.abc import Mapping

from clove.engine.outcome import Outcome
from clove.engine.typesystem import TypeSystem
from clove.relationships import Relationship

_MAX_CACHED_CONTEXTS = 100_000


class CaveatRunner:
    """Evaluates the caveat of a relationship against the request's context.

    As in SpiceDB, values stored on the relationship take precedence over values sent with
    the request. A caveat the schema no longer defines makes the relationship inapplicable.
    """

    __slots__ = ("_converted_request", "_request", "_typesystem")

    def __init__(self, typesystem: TypeSystem, request: Mapping[str, object] | None) -> None:
        self._typesystem = typesystem
        self._request = request or {}
        self._converted_request: dict[str, dict[str, object]] = {}

    def outcome(self, rel: Relationship) -> Outcome:
        name = rel.caveat_name
        if name is None:
            return True
        caveat = self._typesystem.caveats.get(name)
        if caveat is None:
            return False
        request = self._converted_request.get(name)
        if request is None:
            request = caveat.convert_context(self._request)
            self._converted_request[name] = request
        stored = _stored_context(self._typesystem, rel)
        merged = {**request, **stored} if request else stored
        return caveat.evaluate(merged)


def _stored_context(typesystem: TypeSystem, rel: Relationship) -> dict[str, object]:
    if not rel.caveat_context:
        return {}
    cache = typesystem.context_cache
    key = (rel.caveat_name, rel.context_json)
    found = cache.get(key)
    if found is None:
        if len(cache) >= _MAX_CACHED_CONTEXTS:
            cache.clear()
        caveat = typesystem.caveats[rel.caveat_name]  # type: ignore[index]
        found = caveat.convert_context(rel.caveat_context)
        cache[key] = found
    return found
