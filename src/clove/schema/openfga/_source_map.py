"""Where each IR node of an OpenFGA model came from, so that validation errors can say so.

The DSL and JSON front-ends build the same IR but locate it differently: DSL nodes have a file
and a line:column, JSON nodes a JSON path (and a line:column when the text was given). The
validator works on the IR alone and asks this map to turn a node into a located ``SchemaError``.
Some errors point into a part of a node (the ``from`` side of an arrow, the ``with`` condition
of a type restriction), so entries are keyed by node and part.
"""

from __future__ import annotations

from dataclasses import dataclass

from clove.errors import SchemaError
from clove.schema.ir import NO_SPAN, Span


@dataclass(frozen=True, slots=True)
class Location:
    """A file (or ""), a JSON path (or "") and a 1-based line:column (or ``NO_SPAN``)."""

    file: str = ""
    path: str = ""
    span: Span = NO_SPAN


class SourceMap:
    """Locations of IR nodes (and of parts of them), filled in by a front-end."""

    def __init__(self) -> None:
        # Keyed by ``id(node)``; the node is kept alive beside its location so that ids stay
        # unique for as long as the map exists.
        self._entries: dict[tuple[int, str], tuple[object, Location]] = {}

    def note(self, node: object, location: Location, part: str = "") -> None:
        self._entries[(id(node), part)] = (node, location)

    def merge(self, other: SourceMap) -> None:
        self._entries.update(other._entries)

    def locate(self, node: object, part: str = "") -> Location:
        entry = self._entries.get((id(node), part)) or self._entries.get((id(node), ""))
        if entry is not None:
            return entry[1]
        span = getattr(node, "span", NO_SPAN)
        return Location(span=span if isinstance(span, Span) else NO_SPAN)

    def error(self, message: str, node: object, part: str = "") -> SchemaError:
        """A ``SchemaError`` for ``message`` located at ``node`` (or its ``part``)."""
        location = self.locate(node, part)
        if location.path:
            message = f"{location.path}: {message}"
        return SchemaError(
            message,
            line=location.span.line,
            column=location.span.column,
            file=location.file,
        )
