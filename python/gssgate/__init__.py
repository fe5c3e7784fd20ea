"""gssgate: the Python SDK of gssgate (https://…/gssgate; docs/python.md).

* `Broker(socket).credential(handle, service)` — redeem a credential handle at
  gssgate-broker and make the service ticket the *current thread's* default ccache inside a
  `with` block (psycopg2 in that thread then logs in as the user);
* `verify_assertion(token, jwks=…|key=…, audience=…)` — check gssgate-proxy's signed
  X-Gssgate-Assertion;
* `gssgate.django` — middleware, auth backend and a per-request database helper.
"""

from .assertion import Identity, JwksClient, load_public_key, verify_assertion
from .broker import Broker, Credential, RedeemedCredential
from .errors import (BrokerError, BrokerTimeoutError, BrokerUnreachableError, CredentialError,
                     GssgateError, HandleNotFoundError, InvalidAssertionError,
                     InvalidRequestError, KdcUnavailableError, NoCredentialError,
                     NotAllowedError, ServiceUnknownError)

__version__ = "0.1.0"

__all__ = [
    "Broker", "Credential", "RedeemedCredential", "Identity", "JwksClient", "load_public_key",
    "verify_assertion", "GssgateError", "BrokerError", "BrokerTimeoutError",
    "BrokerUnreachableError", "CredentialError", "HandleNotFoundError", "InvalidAssertionError",
    "InvalidRequestError", "KdcUnavailableError", "NoCredentialError", "NotAllowedError",
    "ServiceUnknownError",
]
