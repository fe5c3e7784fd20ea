"""Typed errors of the gssgate SDK.

Every error is a `GssgateError`; broker errors carry the gRPC status name in `.code` (the same
mapping as the C++ SDK and gssgatectl). Messages are one line, meant for logs and operators, and
never contain a handle, ticket, key or token.

    GssgateError
    ├── BrokerError                    anything the broker call ended with (.code = gRPC name)
    │   ├── HandleNotFoundError        NOT_FOUND: unknown, expired, revoked or tampered handle
    │   ├── NotAllowedError            PERMISSION_DENIED: the broker's policy refuses the service
    │   ├── InvalidRequestError        INVALID_ARGUMENT: e.g. a malformed service name
    │   ├── ServiceUnknownError        FAILED_PRECONDITION: the KDC does not know the service
    │   ├── BrokerUnreachableError     nobody answers on the socket (missing, refused)
    │   ├── KdcUnavailableError        UNAVAILABLE from the broker itself: its KDC is down
    │   └── BrokerTimeoutError         DEADLINE_EXCEEDED: no answer within the deadline
    ├── CredentialError                the redeemed ccache cannot be used in this process
    ├── InvalidAssertionError          X-Gssgate-Assertion did not verify (.reason)
    └── NoCredentialError              the request carries no delegated credential handle
"""

from __future__ import annotations


class GssgateError(Exception):
    """Base of every gssgate SDK error."""


class BrokerError(GssgateError):
    """The broker refused a call or could not be asked. `code` is the gRPC status name."""

    code = "UNKNOWN"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class HandleNotFoundError(BrokerError):
    """The handle is unknown, expired, revoked or tampered with (the broker tells no more)."""

    code = "NOT_FOUND"


class NotAllowedError(BrokerError):
    """The broker's policy does not grant this service to the calling uid."""

    code = "PERMISSION_DENIED"


class InvalidRequestError(BrokerError):
    code = "INVALID_ARGUMENT"


class ServiceUnknownError(BrokerError):
    """The KDC has no such service principal."""

    code = "FAILED_PRECONDITION"


class BrokerUnreachableError(BrokerError):
    """No broker answers on the socket (no such file, connection refused, wrong address)."""

    code = "UNAVAILABLE"


class KdcUnavailableError(BrokerError):
    """The broker answered, but could not reach its KDC for a service ticket."""

    code = "UNAVAILABLE"


class BrokerTimeoutError(BrokerError):
    code = "DEADLINE_EXCEEDED"


class CredentialError(GssgateError):
    """The redeemed credential cache could not be loaded or installed in this thread."""


class InvalidAssertionError(GssgateError):
    """A signed identity assertion was missing, malformed, forged, expired or not for us.

    `reason` is a short stable word for logs and metrics (e.g. "signature", "expired",
    "audience", "unknown_kid", "lifetime", "subject_mismatch")."""

    def __init__(self, message: str, reason: str = "invalid"):
        super().__init__(message)
        self.reason = reason


class NoCredentialError(GssgateError):
    """The request has no X-Gssgate-Credential: the client did not delegate a ticket."""
