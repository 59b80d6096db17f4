"""The standard middleware library: one module per middleware, each a factory.

``app.use(error_handler(), logger(), request_id())`` — see ``docs/middleware.md``.
"""

from .body_parser import body_parser
from .conditional_get import conditional_get
from .config import ConfigError, from_config
from .cors import cors
from .csrf import csrf
from .envelope import envelope
from .error_handler import ValidationError, error_handler
from .etag import etag
from .logger import logger
from .request_id import request_id
from .response_time import response_time
from .security_headers import security_headers
from .timeout import set_timeout, timeout
from .unless import unless, when

__all__ = [
    "ConfigError",
    "ValidationError",
    "body_parser",
    "conditional_get",
    "cors",
    "csrf",
    "envelope",
    "error_handler",
    "etag",
    "from_config",
    "logger",
    "request_id",
    "response_time",
    "security_headers",
    "set_timeout",
    "timeout",
    "unless",
    "when",
]
