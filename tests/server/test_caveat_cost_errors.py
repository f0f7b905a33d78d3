"""A caveat refused for its cost is a client error on both surfaces, with its own HTTP code."""

from __future__ import annotations

import grpc

from clove.errors import CaveatCostExceededError
from clove.server.grpc.errors import status_for
from clove.server.http._errors import http_error


def test_cost_exceeded_is_a_client_error_on_every_surface() -> None:
    error = CaveatCostExceededError(caveat="big", cost=5_000_000, limit=1_000_000)
    code, message = status_for(error)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == str(error)
    assert "caveat `big`" in message
    assert "5000000 units" in message
    mapped = http_error(error)
    assert mapped.status == 400
    assert mapped.body.code == "caveat_cost_exceeded"
    assert mapped.body.message == str(error)
