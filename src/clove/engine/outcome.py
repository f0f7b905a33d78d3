"""Three-valued outcomes of membership questions, with the caveat parameters still missing.

An outcome is ``True`` (member), ``False`` (not a member) or a ``frozenset`` of parameter
names: the answer depends on caveat context that was not supplied (conditional). They
combine with Kleene's logic; conditional outcomes carry the union of what is missing.
"""

from __future__ import annotations

Outcome = bool | frozenset[str]

# Under OpenFGA's semantics a question cut by a cycle is undecided, not "no": it stays
# undecided through ``-`` (so ``a - (cycle)`` is not "yes") and is "no" when the answer
# is settled. It travels as a conditional outcome on this parameter, which no caveat has.
CYCLE = "\x00cycle"
CYCLE_OUTCOME: frozenset[str] = frozenset({CYCLE})


def either(a: Outcome, b: Outcome) -> Outcome:
    """``a OR b``."""
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return a | b


def both(a: Outcome, b: Outcome) -> Outcome:
    """``a AND b``."""
    if a is False or b is False:
        return False
    if a is True:
        return b
    if b is True:
        return a
    return a | b


def negate(a: Outcome) -> Outcome:
    """``NOT a``: a conditional stays conditional."""
    if a is True:
        return False
    if a is False:
        return True
    return a
