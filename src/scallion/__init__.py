"""scallion: an onion-model ASGI framework with an Express layer and a BFF layer.

The contract names live here (DESIGN §2); everything else is imported from its module.
"""

from .app import App
from .compose import compose
from .context import Context, current_context
from .errors import HttpError
from .request import Request
from .response import Response
from .router import Router
from .sse import Event, sse

__all__ = [
    "App",
    "Context",
    "Event",
    "HttpError",
    "Request",
    "Response",
    "Router",
    "compose",
    "current_context",
    "sse",
]

__version__ = "0.1.0"
