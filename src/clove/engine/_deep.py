"""Run deeply recursive evaluations without an arbitrary depth limit.

Evaluations recurse along the data (nested groups, folder chains). Shallow ones run on the
caller's stack; one that goes deeper than ``SHALLOW_DEPTH`` raises ``TooDeep`` and is run
again on a thread with a large stack and a raised recursion limit, so a group nested
thousands of levels deep gets its answer instead of a RecursionError.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

SHALLOW_DEPTH = 120
_DEEP_STACK_BYTES = 512 * 1024 * 1024
_DEEP_RECURSION_LIMIT = 1_000_000
_lock = threading.Lock()


class TooDeep(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by an evaluator on the caller's stack when it passes ``SHALLOW_DEPTH``."""


def run_deep(function: Callable[[], T]) -> T:
    """Run ``function`` on a thread whose stack can hold very deep recursion."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(function())
        except BaseException as error:
            failure.append(error)

    with _lock:
        if sys.getrecursionlimit() < _DEEP_RECURSION_LIMIT:
            sys.setrecursionlimit(_DEEP_RECURSION_LIMIT)
        previous = threading.stack_size(_DEEP_STACK_BYTES)
        try:
            worker = threading.Thread(target=target, name="clove-deep-evaluation")
            worker.start()
        finally:
            threading.stack_size(previous)
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]
