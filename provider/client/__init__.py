"""The control plane's REST client (docs/design.md): `Client` and the errors it raises.

Importing this package imports http.client and the API's models; resources import it when they first talk to
the control plane, not at provider start-up.
"""

from provider.client.api import Client
from provider.client.errors import ApiError, Cancelled, Conflict, Failed, NotFound, Timeout, Unreachable

__all__ = ["ApiError", "Cancelled", "Client", "Conflict", "Failed", "NotFound", "Timeout", "Unreachable"]
