"""The one place where errors become gRPC statuses.

Every servicer method is wrapped by :func:`grpc_errors`: nearpath domain errors map to the
gRPC code of their :class:`~nearpath.core.errors.ErrorKind`, anything else becomes
INTERNAL with a generic message. The client never sees a traceback; the driver log does.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from nearpath.core.errors import ErrorKind, NearpathError

log = logging.getLogger("nearpath.csi")

CODES: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.OUT_OF_RANGE: grpc.StatusCode.OUT_OF_RANGE,
    ErrorKind.ABORTED: grpc.StatusCode.ABORTED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorKind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
}
MAX_MESSAGE = 1024


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC code and client-facing message for an exception."""
    if isinstance(exc, NearpathError):
        return CODES[exc.kind], exc.message[:MAX_MESSAGE]
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the nearpath CSI driver log"


F = TypeVar("F", bound=Callable[..., Any])


def grpc_errors(method: F) -> F:
    """Wrap a servicer method ``(self, request, context)``: errors become clean statuses."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except NearpathError as exc:
            code, message = status_for(exc)
            level = logging.ERROR if code is grpc.StatusCode.INTERNAL else logging.INFO
            log.log(level, "%s failed", method.__name__, extra={"code": code.name, "error": message})
        except Exception as exc:  # the boundary: nothing escapes to the client as a traceback
            code, message = status_for(exc)
            log.exception("%s failed unexpectedly", method.__name__)
        context.abort(code, message)
        raise AssertionError("context.abort returned")  # pragma: no cover (abort always raises)

    return wrapper  # type: ignore[return-value]
