"""What every endpoint shares: the simulator state key, request counting, and turning raised answers
(``ErrorAnswer``, ``DropConnection``) or unexpected crashes into what Wallaroo would send."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .config import ErrorShape
from .counters import ANONYMOUS
from .errors import DropConnection, ErrorAnswer, InvalidToken, error_response

if TYPE_CHECKING:
    from .state import SimulatorState

STATE: web.AppKey[SimulatorState] = web.AppKey("wallaroo_simulator_state")
# Request key: the client a request is counted under (typed keys exist from aiohttp 3.13).
CLIENT_ID: Any = web.RequestKey("client_id", str) if hasattr(web, "RequestKey") else "wallaroo_simulator_client_id"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("wallaroo_simulator")


def endpoint(name: str, crash_shape: ErrorShape) -> Callable[[Handler], Handler]:
    """Count each answer under ``name`` and the client; a crash answers 500 in ``crash_shape``, no traceback."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def answer(request: web.Request) -> web.StreamResponse:
            status: int | str = 500
            try:
                response = await _answer(handler, request, crash_shape)
                status = response.status
                return response
            except DropConnection:
                status = "dropped"
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=444)  # never sent (nginx's code for "closed without answering")
            except asyncio.CancelledError:  # the client went away first, e.g. it timed out during a hang
                status = "client-closed"
                raise
            except web.HTTPException as exc:  # aiohttp's own answers, e.g. 413 for a body over client_max_size
                status = exc.status
                raise
            finally:
                request.app[STATE].counters.record_request(name, request.get(CLIENT_ID, ANONYMOUS), status)

        return answer

    return decorate


async def _answer(handler: Handler, request: web.Request, crash_shape: ErrorShape) -> web.StreamResponse:
    try:
        return await handler(request)
    except ErrorAnswer as error:
        return error.response
    except (DropConnection, web.HTTPException):
        raise
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return error_response(crash_shape, 500, "Internal Server Error")


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def verified_claims(request: web.Request) -> dict[str, Any]:
    """The request's verified token claims; raises InvalidToken with Envoy's wording."""
    token = bearer_token(request)
    if token is None:
        raise InvalidToken("Jwt is missing")
    claims = request.app[STATE].issuer.verify_access(token)
    request[CLIENT_ID] = claims.get("azp", ANONYMOUS)
    return claims
