"""Compiling a caveat's CEL expression and evaluating it against a context."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, final

from cel_expr_python import cel

from clove.caveats._cost import Node, cost_bound, largest_flat_input, parse_checked, size_of
from clove.caveats._ipaddress import in_cidr
from clove.caveats._types import (
    IP_ADDRESS_CEL_TYPE,
    ConversionError,
    Converter,
    ParameterType,
    resolve_type,
)
from clove.errors import (
    CaveatCostExceededError,
    CaveatEvaluationError,
    ContextError,
    SchemaError,
)
from clove.schema.ir import Caveat, CaveatType, Span

# SpiceDB refuses longer expressions.
MAX_EXPRESSION_LENGTH: Final = 100_000

# The default budget of one evaluation, in the units of ``clove.caveats._cost``: some tens of
# milliseconds at the worst, while no caveat of the conformance suites costs even 100.
DEFAULT_MAX_COST: Final = 1_000_000

_FLAT_TYPES: Final = (str, bytes, bool, int, float)

# One CEL diagnostic: "ERROR: <input>:LINE:COLUMN: message", the status suffix dropped.
_CEL_DIAGNOSTIC = re.compile(
    r"ERROR: <input>:(-?\d+):(-?\d+): (.*?)(?: \[[A-Z_]+\])?$", re.MULTILINE
)
_UNDECLARED_REFERENCE = re.compile(r"undeclared reference to '\.?([^'.]+)")
_STATUS_PREFIX = re.compile(r"^[A-Z_]+: ")

_Signature = tuple[tuple[str, CaveatType], ...]


@final
class CompiledCaveat:
    """A type-checked caveat, ready to evaluate. Immutable and safe to share between threads.

    Build one with ``compile_caveat``.
    """

    __slots__ = (
        "_converters",
        "_flat_limit",
        "_max_cost",
        "_name",
        "_parameters",
        "_program",
        "_referenced",
        "_tree",
    )

    def __init__(
        self,
        *,
        name: str,
        parameters: Mapping[str, CaveatType],
        converters: Mapping[str, Converter],
        program: Any,
        referenced: frozenset[str],
        max_cost: int,
    ) -> None:
        self._name = name
        self._parameters = MappingProxyType(dict(parameters))
        self._converters = MappingProxyType(dict(converters))
        self._program = program
        self._referenced = referenced
        self._max_cost = max_cost
        self._tree: Node = parse_checked(program.serialize())
        # Contexts of strings and scalars no longer than this need no bound of their own.
        self._flat_limit = largest_flat_input(self._tree, frozenset(parameters), max_cost)

    @property
    def name(self) -> str:
        return self._name

    @property
    def parameters(self) -> Mapping[str, CaveatType]:
        """The declared parameters and their types, in declaration order."""
        return self._parameters

    @property
    def max_cost(self) -> int:
        """The budget of one evaluation, in cost units (see ``cost``)."""
        return self._max_cost

    @property
    def referenced_parameters(self) -> frozenset[str]:
        """The declared parameters the expression actually uses."""
        return self._referenced

    def __repr__(self) -> str:
        parameters = ", ".join(f"{name} {type_}" for name, type_ in self._parameters.items())
        return f"<CompiledCaveat {self._name}({parameters})>"

    def convert_context(self, context: Mapping[str, object]) -> dict[str, object]:
        """Validate and convert JSON-ish context values to what CEL evaluates.

        Keys that are not parameters are dropped, as SpiceDB drops them. Raises
        ``ContextError`` naming the parameter, its type and what was wrong with the value.
        """
        converters = self._converters
        converted: dict[str, object] = {}
        for key, value in context.items():
            convert = converters.get(key)
            if convert is None:
                continue
            try:
                converted[key] = convert(value)
            except ConversionError as error:
                raise ContextError(
                    f"could not convert context parameter `{key}` of caveat `{self._name}`"
                    f" to {self._parameters[key]}: {error}"
                ) from None
        return converted

    def evaluate(self, context: Mapping[str, object]) -> bool | frozenset[str]:
        """Evaluate against already converted values (see ``convert_context``).

        Returns the boolean result, or, when the result depends on parameters absent from
        ``context``, the frozenset of their names: the caveat is then conditional. Raises
        ``CaveatCostExceededError``, without evaluating, when ``cost(context)`` exceeds
        ``max_cost``, and ``CaveatEvaluationError`` for any other run-time failure (overflow,
        a bad CIDR ...).
        """
        if not self._within_flat_limit(context):
            cost = self.cost(context)
            if cost > self._max_cost:
                raise CaveatCostExceededError(caveat=self._name, cost=cost, limit=self._max_cost)
        try:
            value = self._program.eval(data=context)
        except (RuntimeError, TypeError) as error:
            raise CaveatEvaluationError(
                f"evaluation of caveat `{self._name}` failed: {error}"
            ) from None
        result = value.value()
        if result is True or result is False:
            return bool(result)
        return self._unresolved(context, value)

    def cost(self, context: Mapping[str, object]) -> int:
        """An upper bound on the cost of evaluating over ``context`` (converted values), from
        the checked expression and the sizes of the values: string and bytes lengths, list and
        map lengths and their largest items. About one unit per step of the evaluator."""
        return cost_bound(self._tree, {name: size_of(value) for name, value in context.items()})

    def _within_flat_limit(self, context: Mapping[str, object]) -> bool:
        limit = self._flat_limit
        for value in context.values():
            if not isinstance(value, _FLAT_TYPES):
                if value is None or isinstance(value, datetime | timedelta | Decimal):
                    continue
                return False
            if isinstance(value, bytes | str) and len(value) > limit:
                return False
            if isinstance(value, str) and len(value) * 4 > limit and not value.isascii():
                return False  # a code point takes up to 4 bytes
        return limit >= 0

    def _unresolved(self, context: Mapping[str, object], value: Any) -> frozenset[str]:
        # cel-expr-python has no unknown values: an absent variable evaluates to an error,
        # which `||` and `&&` absorb when the other side decides the result. So an error
        # reaching the top while referenced parameters are absent means the result depends
        # on them (SpiceDB's partial evaluation likewise lets unknowns win over errors).
        missing = self._referenced.difference(context)
        if missing:
            return missing
        if value.type() == cel.Type.ERROR:
            message = _STATUS_PREFIX.sub("", str(value.value()))
            raise CaveatEvaluationError(f"evaluation of caveat `{self._name}` failed: {message}")
        raise CaveatEvaluationError(
            f"caveat `{self._name}` evaluated to {value.value()!r}, not a boolean"
        )


def compile_caveat(caveat: Caveat, *, max_cost: int = DEFAULT_MAX_COST) -> CompiledCaveat:
    """Type-check a caveat's expression against its declared parameters and compile it.

    ``max_cost`` is the budget of one evaluation (see ``CompiledCaveat.cost``); a context that
    could make the expression cost more is refused with ``CaveatCostExceededError``.

    Raises ``SchemaError`` for an unknown parameter type, a duplicate parameter, an
    expression that does not parse or type-check, or one whose result is not a bool; the
    line and column point into the schema text (via ``caveat.expression_span``).
    """
    if max_cost < 1:
        raise ValueError(f"max_cost must be positive, not {max_cost}")
    parameter_types = _resolve_parameters(caveat)
    expression = caveat.expression
    if len(expression.strip()) > MAX_EXPRESSION_LENGTH:
        raise _expression_error(
            caveat,
            f"expression exceeds the maximum size of {MAX_EXPRESSION_LENGTH} characters",
        )

    signature: _Signature = tuple(
        (parameter.name, parameter.type) for parameter in caveat.parameters
    )
    checked = _compile_expression(caveat, _environment(signature, runtime=False))
    result_type = checked.return_type()
    if result_type != cel.Type.BOOL:
        raise _expression_error(
            caveat,
            f"caveat expression must result in a boolean value: found `{_type_name(result_type)}`",
        )

    program = checked
    if any(parameter_type.uses_ip_address for parameter_type in parameter_types.values()):
        # The checker saw addresses as opaque values; at run time they are strings.
        program = _compile_expression(caveat, _environment(signature, runtime=True))

    return CompiledCaveat(
        name=caveat.name,
        parameters={parameter.name: parameter.type for parameter in caveat.parameters},
        converters={name: parameter.convert for name, parameter in parameter_types.items()},
        program=program,
        referenced=_referenced_parameters(expression, frozenset(parameter_types)),
        max_cost=max_cost,
    )


def _resolve_parameters(caveat: Caveat) -> dict[str, ParameterType]:
    resolved: dict[str, ParameterType] = {}
    for parameter in caveat.parameters:
        where = parameter.span
        if parameter.name in resolved:
            raise SchemaError(
                f"duplicate parameter `{parameter.name}` in caveat `{caveat.name}`",
                line=where.line,
                column=where.column,
            )
        try:
            resolved[parameter.name] = resolve_type(parameter.type)
        except ValueError as error:
            raise SchemaError(
                f"invalid type for parameter `{parameter.name}` of caveat `{caveat.name}`: {error}",
                line=where.line,
                column=where.column,
            ) from None
    return resolved


@functools.lru_cache(maxsize=256)
def _environment(signature: _Signature, *, runtime: bool) -> Any:
    """A CEL environment declaring the parameters. For type checking, ``ipaddress`` is an
    opaque type with an ``in_cidr`` method; at run time it is a string with that method."""
    if runtime:
        variables = {name: resolve_type(type_).runtime_type for name, type_ in signature}
        receiver = cel.Type.STRING
    else:
        variables = {name: resolve_type(type_).check_type for name, type_ in signature}
        receiver = IP_ADDRESS_CEL_TYPE
    in_cidr_function = cel.FunctionDecl(
        "in_cidr",
        [
            cel.Overload(
                "ipaddress_in_cidr_string",
                return_type=cel.Type.BOOL,
                parameters=[receiver, cel.Type.STRING],
                is_member=True,
                impl=in_cidr,
            )
        ],
    )
    return cel.NewEnv(variables=variables, functions=[in_cidr_function])


def _compile_expression(caveat: Caveat, environment: Any) -> Any:
    try:
        return environment.compile(caveat.expression)
    except RuntimeError as error:
        diagnostics = [
            (int(line), int(column), message)
            for line, column, message in _CEL_DIAGNOSTIC.findall(str(error))
        ]
        if not diagnostics:
            raise _expression_error(caveat, _STATUS_PREFIX.sub("", str(error))) from None
        # Report the first problem in source order, as cel-go (and so SpiceDB) sorts them.
        line, column, message = min(diagnostics, key=lambda item: (item[0], item[1]))
        raise _expression_error(caveat, message, line=line, column=column) from None


def _referenced_parameters(expression: str, parameters: frozenset[str]) -> frozenset[str]:
    """The parameters an expression refers to, as the CEL checker resolves names.

    Compiling with no variables declared makes the checker report every free identifier
    (string contents, field names and comprehension variables are not references).
    """
    try:
        _environment((), runtime=False).compile(expression)
    except RuntimeError as error:
        return parameters.intersection(_UNDECLARED_REFERENCE.findall(str(error)))
    return frozenset()


def _expression_error(
    caveat: Caveat, message: str, *, line: int = 1, column: int = 1
) -> SchemaError:
    """A ``SchemaError`` at a 1-based position inside the expression, moved into the schema."""
    text = f"invalid expression for caveat `{caveat.name}`: {message}"
    if caveat.expression_span.line == 0:
        # No source position: say where in the expression instead.
        return SchemaError(f"{text} (at {line}:{column} of the expression)")
    line, column = _schema_position(caveat.expression_span, line, column)
    return SchemaError(text, line=line, column=column)


def _schema_position(start: Span, line: int, column: int) -> tuple[int, int]:
    line, column = max(line, 1), max(column, 1)
    if line == 1:
        return start.line, start.column + column - 1
    return start.line + line - 1, column


def _type_name(cel_type: Any) -> str:
    """A CEL type as cel-go spells it: ``int``, ``list(int)``, ``map(string, dyn)``."""
    name: str = cel_type.name()
    return name.lower().replace("<", "(").replace(">", ")")
