"""An upper bound on the work of evaluating a checked CEL expression over actual values.

cel-expr-python (C++ CEL) has no run-time cost limit: it stops a comprehension after 10,000
iterations but not the allocation inside it, so ``xs.map(x, s + s + s + s)`` over a thousand
items and a megabyte string runs for half a minute, and ``xs.map(x, x)`` over 9,999 integers
for four seconds (each step copies the accumulated list). Before evaluating, Clove walks the
checked expression once with the *sizes* of the context values (string lengths, list and map
sizes, the largest element) instead of the values, and bounds what every node can cost and
produce; an evaluation whose bound exceeds the caveat's budget is refused unrun.

The bound is sound for what the expression language can express: every operation's cost and
result size are bounded by its operands' sizes, and a comprehension (only macros make them)
runs at most once per element of its range with an accumulator that grows by the same step
each time (or, for any other shape, is followed step by step). One unit is roughly one node
evaluation (some tens of nanoseconds): copying or comparing 16 bytes costs a unit, copying a
list element two.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, NamedTuple, final

from clove.errors import CloveInternalError

# C++ CEL refuses an evaluation past this many comprehension iterations in total.
MAX_ITERATIONS: Final = 10_000
_BYTES_PER_UNIT: Final = 16
_ELEMENT_COPY: Final = 2
# A call into the Python ``in_cidr``: about a microsecond.
_PYTHON_CALL: Final = 25
# Deeper context values are refused.
_MAX_DEPTH: Final = 100
# Longest text a number, timestamp or duration converts to.
_SCALAR_TEXT: Final = 40


# --- sizes ---------------------------------------------------------------------------


class Size(NamedTuple):
    """What a value can be, as far as cost goes: ``length`` bytes of a string or bytes,
    items of a list or map (1 for other values), the largest ``element`` (list items, map
    values) and ``key`` (map keys). A tuple: the walk builds many, and compares them."""

    length: int
    element: Size | None = None
    key: Size | None = None

    def weight(self) -> int:
        """An upper bound on the bytes and items reachable from the value."""
        inner = 0
        if self.element is not None:
            inner += self.element.weight()
        if self.key is not None:
            inner += self.key.weight()
        return self.length * (1 + inner) if inner else self.length


SCALAR: Final = Size(1)


def join(a: Size | None, b: Size | None) -> Size | None:
    """The smallest size at least as large as both."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    return Size(max(a.length, b.length), join(a.element, b.element), join(a.key, b.key))


def size_of(value: object) -> Size:
    """The size of a converted context value (see ``CompiledCaveat.convert_context``)."""
    return _size_of(value, 0)


def _size_of(value: object, depth: int) -> Size:
    kind = type(value)
    if kind is str:
        return _text_size(value)  # type: ignore[arg-type]
    if kind in _SCALAR_TYPES:
        return SCALAR
    if isinstance(value, bytes):
        return Size(len(value))
    if depth > _MAX_DEPTH:
        # Nesting no sane context needs: too large to evaluate over.
        return Size(1 << 40)
    if isinstance(value, list | tuple):
        return Size(len(value), _largest(value, depth))
    if isinstance(value, Mapping):
        return Size(len(value), _largest(value.values(), depth), _largest(value.keys(), depth))
    if isinstance(value, str):
        return _text_size(value)
    if isinstance(value, datetime.datetime | datetime.timedelta):
        return SCALAR
    raise CloveInternalError(f"no size for a context value of type {type(value).__name__}")


def _text_size(text: str) -> Size:
    return Size(len(text) if text.isascii() else len(text.encode("utf-8", "replace")))


def _largest(items: Iterable[object], depth: int) -> Size:
    """The join of the sizes of ``items`` (SCALAR if none), flat ones at C speed."""
    items = items if isinstance(items, Collection) else list(items)
    if not items:
        return SCALAR
    kinds = set(map(type, items))
    if kinds <= _SCALAR_TYPES:
        return SCALAR
    if kinds == {str} and all(map(str.isascii, items)):
        return Size(max(map(len, items)))
    largest: Size | None = None
    for item in items:
        largest = join(largest, _size_of(item, depth + 1))
    return largest or SCALAR


_SCALAR_TYPES: Final = frozenset(
    (type(None), bool, int, float, Decimal, datetime.datetime, datetime.timedelta)
)


def _units(size_bytes: int) -> int:
    return -(-size_bytes // _BYTES_PER_UNIT)


# --- the checked expression ----------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One node of the checked expression tree, reduced to what the bound needs.

    ``kind`` is ``const``, ``ident``, ``select``, ``has``, ``call``, ``list``, ``map`` or
    ``comprehension``; ``name`` is the identifier, field or function; ``children`` are, for
    a call, the target (if any) then the arguments, for a map alternating keys and values,
    and for a comprehension range, init, condition, step and result.
    """

    kind: str
    name: str = ""
    size: Size = SCALAR
    children: tuple[Node, ...] = ()
    overloads: tuple[str, ...] = ()
    # Comprehension variables: the iteration variable(s) and the accumulator.
    variables: tuple[str, ...] = ()
    accumulator: str = ""
    free: frozenset[str] = frozenset()


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message: varints as ints,
    length-delimited fields as bytes, fixed-width fields as their raw bytes."""
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            yield number, data[position : position + length]
            position += length
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            yield number, data[position : position + width]
            position += width
        else:
            raise CloveInternalError(f"unexpected protobuf wire type {wire_type} in a CEL AST")


def _message(data: bytes) -> dict[int, list[int | bytes]]:
    fields: dict[int, list[int | bytes]] = {}
    for number, value in _fields(data):
        fields.setdefault(number, []).append(value)
    return fields


def _bytes(fields: dict[int, list[int | bytes]], number: int) -> bytes:
    value = fields.get(number, [b""])[-1]
    return value if isinstance(value, bytes) else b""


def _int(fields: dict[int, list[int | bytes]], number: int) -> int:
    value = fields.get(number, [0])[-1]
    return value if isinstance(value, int) else 0


def _text(fields: dict[int, list[int | bytes]], number: int) -> str:
    return _bytes(fields, number).decode()


def parse_checked(serialized: bytes) -> Node:
    """The tree of a ``cel.Expression.serialize()``: a ``google.protobuf.Any`` holding a
    ``cel.expr.CheckedExpr`` (reference map field 2, expression field 4)."""
    checked = _message(_bytes(_message(serialized), 2))
    overloads: dict[int, tuple[str, ...]] = {}
    for entry_data in checked.get(2, []):
        if isinstance(entry_data, bytes):
            entry = _message(entry_data)
            reference = _message(_bytes(entry, 2))
            overloads[_int(entry, 1)] = tuple(
                item.decode() for item in reference.get(3, []) if isinstance(item, bytes)
            )
    return _expr(_bytes(checked, 4), overloads)


def _expr(data: bytes, overloads: dict[int, tuple[str, ...]]) -> Node:
    """A ``cel.expr.Expr``: id 2; constant 3, ident 4, select 5, call 6, list 7, struct 8,
    comprehension 9."""
    fields = _message(data)
    if 3 in fields:
        return _constant(_message(_bytes(fields, 3)))
    if 4 in fields:
        name = _text(_message(_bytes(fields, 4)), 1)
        return Node("ident", name, free=frozenset((name,)))
    if 5 in fields:
        select = _message(_bytes(fields, 5))
        operand = _expr(_bytes(select, 1), overloads)
        kind = "has" if _int(select, 3) else "select"
        return Node(kind, _text(select, 2), children=(operand,), free=operand.free)
    if 6 in fields:
        call = _message(_bytes(fields, 6))
        children = [_expr(_bytes(call, 1), overloads)] if 1 in call else []
        children += [_expr(arg, overloads) for arg in call.get(3, []) if isinstance(arg, bytes)]
        return Node(
            "call",
            _text(call, 2),
            children=tuple(children),
            overloads=overloads.get(_int(fields, 2), ()),
            free=_free(children),
        )
    if 7 in fields:
        elements = _message(_bytes(fields, 7)).get(1, [])
        children = [_expr(item, overloads) for item in elements if isinstance(item, bytes)]
        return Node("list", children=tuple(children), free=_free(children))
    if 8 in fields:
        children = []
        for entry_data in _message(_bytes(fields, 8)).get(2, []):
            if isinstance(entry_data, bytes):
                entry = _message(entry_data)
                key = (
                    _expr(_bytes(entry, 3), overloads)
                    if 3 in entry
                    else Node("const", size=Size(len(_bytes(entry, 2))))
                )
                children += [key, _expr(_bytes(entry, 4), overloads)]
        return Node("map", children=tuple(children), free=_free(children))
    if 9 in fields:
        return _comprehension(_message(_bytes(fields, 9)), overloads)
    # An expression without a kind: C++ CEL gives it no value.
    return Node("const")


def _constant(fields: dict[int, list[int | bytes]]) -> Node:
    """A ``cel.expr.Constant``; only strings (6) and bytes (7) have a length."""
    for number in (6, 7):
        if number in fields:
            return Node("const", size=Size(len(_bytes(fields, number))))
    return Node("const")


def _comprehension(
    fields: dict[int, list[int | bytes]], overloads: dict[int, tuple[str, ...]]
) -> Node:
    """A ``cel.expr.Expr.Comprehension``: iter_var 1, iter_range 2, accu_var 3, accu_init 4,
    loop_condition 5, loop_step 6, result 7, iter_var2 8."""
    variables = tuple(name for name in (_text(fields, 1), _text(fields, 8)) if name)
    accumulator = _text(fields, 3)
    range_, init, condition, step, result = (
        _expr(_bytes(fields, number), overloads) for number in (2, 4, 5, 6, 7)
    )
    loop_free = (condition.free | step.free) - {accumulator, *variables}
    free = range_.free | init.free | loop_free | (result.free - {accumulator})
    return Node(
        "comprehension",
        children=(range_, init, condition, step, result),
        variables=variables,
        accumulator=accumulator,
        free=free,
    )


def _free(children: list[Node]) -> frozenset[str]:
    free: frozenset[str] = frozenset()
    for child in children:
        free |= child.free
    return free


# --- the bound -----------------------------------------------------------------------

_CONCATENATIONS: Final = frozenset(("add_string", "add_bytes", "add_list"))
_LOGICAL: Final = frozenset(("_&&_", "_||_", "!_", "@not_strictly_false", "not_strictly_false"))
_COMPARISONS: Final = frozenset(("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"))


@final
class _Bounder:
    """One walk of the tree. Within a comprehension, the subtrees that do not read the
    accumulator are bounded once, not once per step (nor per step of an outer one)."""

    __slots__ = ()

    def bound(self, node: Node, scope: dict[str, Size]) -> tuple[Size, int]:
        """The largest value ``node`` can produce in ``scope`` and what producing it costs."""
        match node.kind:
            case "const":
                return node.size, 1
            case "ident":
                # An absent parameter evaluates to an error value.
                return scope.get(node.name, SCALAR), 1
            case "select":
                operand, cost = self.bound(node.children[0], scope)
                return operand.element or SCALAR, cost + 1 + _units(len(node.name))
            case "has":
                _, cost = self.bound(node.children[0], scope)
                return SCALAR, cost + 1 + _units(len(node.name))
            case "call":
                return self._call(node, scope)
            case "list":
                element: Size | None = None
                cost = 1
                for child in node.children:
                    size, child_cost = self.bound(child, scope)
                    element = join(element, size)
                    cost += child_cost + _ELEMENT_COPY
                return Size(len(node.children), element or SCALAR), cost
            case "map":
                keys = values = None
                cost = 1
                for index, child in enumerate(node.children):
                    size, child_cost = self.bound(child, scope)
                    if index % 2:
                        values = join(values, size)
                    else:
                        keys = join(keys, size)
                        cost += _units(size.weight())  # hashing
                    cost += child_cost + _ELEMENT_COPY
                return Size(len(node.children) // 2, values or SCALAR, keys or SCALAR), cost
            case "comprehension":
                return self._comprehension(node, scope)
            case _:
                raise CloveInternalError(f"unknown CEL node kind {node.kind!r}")

    def _call(
        self,
        node: Node,
        scope: dict[str, Size],
        memo: dict[int, tuple[Size, int]] | None = None,
        accumulator: str = "",
    ) -> tuple[Size, int]:
        cost = 1
        sizes = []
        for child in node.children:
            if memo is None:
                size, child_cost = self.bound(child, scope)
            else:
                size, child_cost = self._memoized(child, scope, accumulator, memo)
            sizes.append(size)
            cost += child_cost
        name = node.name
        if name == "_?_:_":
            # Both branches were charged; only one runs, but the sum is still a bound.
            return join(sizes[1], sizes[2]) or SCALAR, cost
        if name in _LOGICAL or name in ("_-_", "_*_", "_/_", "_%_", "-_"):
            return SCALAR, cost
        if name in _COMPARISONS:
            return SCALAR, cost + _units(min(size.weight() for size in sizes))
        if name == "_+_":
            if node.overloads and not _CONCATENATIONS.intersection(node.overloads):
                return SCALAR, cost
            left, right = sizes
            result = Size(left.length + right.length, join(left.element, right.element))
            if result.element is None:
                return result, cost + _units(result.length)
            return result, cost + result.length * _ELEMENT_COPY
        if name == "_[_]":
            return sizes[0].element or SCALAR, cost + _units(sizes[1].weight())
        if name in ("@in", "_in_"):
            item, container = sizes
            if container.key is not None:  # a map: hash the item
                return SCALAR, cost + _units(item.weight())
            compare = 1 + _units(min(item.weight(), (container.element or SCALAR).weight()))
            return SCALAR, cost + container.length * compare
        if name == "size":
            return SCALAR, cost + _units(sizes[-1].length)  # counts code points
        if name == "contains":
            # A naive search, but with vectorized compares: measured at some 2,000 byte
            # pairs per unit.
            text, pattern = sizes
            pairs = text.length * pattern.length // 2048
            return SCALAR, cost + _units(text.length + pattern.length) + pairs
        if name in ("startsWith", "endsWith"):
            return SCALAR, cost + _units(min(size.length for size in sizes))
        if name == "matches":
            # RE2 is linear in the text; the automaton it steps grows with the pattern.
            text, pattern = sizes
            return SCALAR, cost + _units(pattern.length) + _units(text.length) * (
                1 + pattern.length // 1024
            )
        if name == "in_cidr":
            return SCALAR, cost + _PYTHON_CALL + _units(sizes[0].length + sizes[1].length)
        if name in ("string", "bytes"):
            argument = sizes[-1]
            length = max(argument.length, _SCALAR_TEXT)
            return Size(length), cost + _units(length)
        if name == "dyn":
            return sizes[-1], cost
        # Conversions to numbers, timestamps and durations, their getters, type(): a scalar
        # after reading the arguments once.
        return SCALAR, cost + _units(sum(size.length for size in sizes))

    def _comprehension(self, node: Node, scope: dict[str, Size]) -> tuple[Size, int]:
        range_node, init_node, condition, step, result_node = node.children
        range_size, cost = self.bound(range_node, scope)
        accumulator, init_cost = self.bound(init_node, scope)
        cost += init_cost
        iterations = min(range_size.length, MAX_ITERATIONS)
        inner = dict(scope)
        item = join(range_size.element, range_size.key) or SCALAR
        for variable in node.variables:
            inner[variable] = item
        name = node.accumulator
        # The iteration variables keep their sizes from step to step; only the accumulator
        # changes.
        memo: dict[int, tuple[Size, int]] = {}

        def one_step(accumulated: Size) -> tuple[Size, int]:
            inner[name] = accumulated
            _, condition_cost = self._memoized(condition, inner, name, memo)
            after, step_cost = self._memoized(step, inner, name, memo)
            return after, condition_cost + step_cost + 1

        if iterations:
            first, first_cost = one_step(accumulator)
            second, _ = one_step(first)
            growth = _growth(accumulator, first, second)
            if growth is not None:
                # The accumulator grows by the same amount at every step (or not at all),
                # and the cost of a step grows with it: sum the first and last steps.
                last_input = accumulator
                if iterations > 1:
                    last_input = _grown(first, growth, iterations - 2)
                final, last_cost = one_step(last_input)
                cost += (first_cost + last_cost) * iterations // 2 + 1
                accumulator = final
            else:
                for _ in range(iterations):
                    accumulator, step_cost = one_step(accumulator)
                    cost += step_cost
        inner[name] = accumulator
        result, result_cost = self.bound(result_node, {**scope, name: accumulator})
        return result, cost + result_cost

    def _memoized(
        self,
        node: Node,
        scope: dict[str, Size],
        accumulator: str,
        memo: dict[int, tuple[Size, int]],
    ) -> tuple[Size, int]:
        if accumulator in node.free:
            if node.kind == "call":
                # Bound the children through the memo too: ``accu + [f(x)]``.
                return self._call(node, scope, memo, accumulator)
            return self.bound(node, scope)
        found = memo.get(id(node))
        if found is None:
            found = memo[id(node)] = self.bound(node, scope)
        return found


def _growth(start: Size, first: Size, second: Size) -> int | None:
    """How much the accumulator grows per step if it grows linearly with fixed elements."""
    if start == first == second:
        return 0
    if (first.element, first.key) != (second.element, second.key):
        return None
    if start.length == first.length == second.length:
        return None  # elements changed size while the length did not
    growth = second.length - first.length
    return growth if growth == first.length - start.length else None


def _grown(size: Size, growth: int, steps: int) -> Size:
    return Size(size.length + growth * steps, size.element, size.key)


def cost_bound(tree: Node, sizes: Mapping[str, Size]) -> int:
    """An upper bound, in cost units, on evaluating ``tree`` with variables of ``sizes``
    (a variable without a size is absent), including handing the values to CEL."""
    _, cost = _Bounder().bound(tree, dict(sizes))
    return cost + sum(_units(size.weight()) for size in sizes.values())


def largest_flat_input(tree: Node, names: frozenset[str], budget: int) -> int:
    """The largest ``n`` such that any strings or bytes of at most ``n`` bytes, and any
    other values but lists and maps, for the variables ``names`` stay within ``budget``
    (-1 if not even scalars do): evaluations over such inputs need no walk of their own."""
    if cost_bound(tree, dict.fromkeys(names, SCALAR)) > budget:
        return -1
    low, high = 1, 1
    while high < 1 << 40 and cost_bound(tree, dict.fromkeys(names, Size(high * 2))) <= budget:
        low = high = high * 2
    high *= 2
    while high - low > 1:
        middle = (low + high) // 2
        if cost_bound(tree, dict.fromkeys(names, Size(middle))) <= budget:
            low = middle
        else:
            high = middle
    return low
