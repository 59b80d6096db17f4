"""The standard middleware library: one module per middleware, each a factory.

``app.use(error_handler(), logger(), request_id())`` — see ``docs/middleware.md``.
"""

from .api_key import api_key
from .body_parser import body_parser
from .compress import compress
from .conditional_get import conditional_get
from .config import ConfigError, from_config
from .cors import cors
from .csrf import csrf
from .envelope import envelope
from .error_handler import ValidationError, error_handler
from .etag import etag
from .jwt_auth import jwt_auth
from .logger import logger
from .multipart import FormData, UploadFile, multipart
from .rate_limit import RateLimitInfo, rate_limit
from .request_id import request_id
from .response_time import response_time
from .security_headers import security_headers
from .serve_static import serve_static
from .session import SessionData, session
from .timeout import set_timeout, timeout
from .unless import unless, when

__all__ = [
    "ConfigError",
    "FormData",
    "RateLimitInfo",
    "SessionData",
    "UploadFile",
    "ValidationError",
    "api_key",
    "body_parser",
    "compress",
    "conditional_get",
    "cors",
    "csrf",
    "envelope",
    "error_handler",
    "etag",
    "from_config",
    "jwt_auth",
    "logger",
    "multipart",
    "rate_limit",
    "request_id",
    "response_time",
    "security_headers",
    "serve_static",
    "session",
    "set_timeout",
    "timeout",
    "unless",
    "when",
]
