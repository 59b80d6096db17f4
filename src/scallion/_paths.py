r"""scallion's own path syntax, compiled once per route and matched on the raw path.

The syntax is owned here so that no upstream library can change it under users'
feet (@koa/router broke wildcards twice by following path-to-regexp: koajs/router#91,
#185, #196).

=========================  ======================  =================================
pattern                    raw path                params
=========================  ======================  =================================
``/users``                 ``/users``              ``{}``
``/users``                 ``/users/``             ``{}`` (one trailing slash ignored)
``/users``                 ``/USERS``              ``{}`` (case-insensitive)
``/users/:id``             ``/users/42``           ``{"id": "42"}``
``/users/:id``             ``/users/a%2Fb``        ``{"id": "a/b"}`` (%2F never splits)
``/users/:id``             ``/users/a+b``          ``{"id": "a+b"}`` (``+`` stays)
``/users/:id``             ``/users/%E0%A4%A``     ``{"id": "%E0%A4%A"}`` (kept as it came)
``/users/:id``             ``/users``              no match
``/users/:id?``            ``/users``              ``{}`` (absent, not ``None``)
``/users/:id(\d+)``        ``/users/abc``          no match
``/files/:name.:ext``      ``/files/a.tar.gz``     ``{"name": "a.tar", "ext": "gz"}``
``/files/*``               ``/files/a/b%20c``      ``{"*": "a/b c"}``
``/files/*``               ``/files``              ``{"*": ""}``
``/static/*path``          ``/static/css/x.css``   ``{"path": "css/x.css"}``
=========================  ======================  =================================

Rules:

* ``:name`` matches one non-empty segment; ``:name(regex)`` constrains it (the regex works
  within one segment: a value containing ``/`` never matches; use ``*name`` for that);
  ``:name?`` makes a whole segment optional, and a missing one is absent from the params.
* ``*`` or ``*name`` may only start the last segment; it takes the rest of the path,
  slashes included (``""`` when nothing is left), under the key ``"*"`` or ``name``.
* Matching runs on the raw, undecoded path; each value is then percent-decoded as UTF-8.
  A value with a malformed escape or invalid UTF-8 is kept exactly as it came.
* Static text in a pattern is percent-encoded (``/café`` matches ``/caf%C3%A9``).
* ``\`` escapes a syntax character (``/a\:b`` is the literal ``/a:b``).
* Without ``strict``, one trailing slash on the path or the pattern is ignored.
  Without ``sensitive``, matching ignores case (params keep the case they came in).
* ``end=False`` matches a prefix made of whole segments: ``/a`` matches ``/a`` and
  ``/a/b`` but never ``/about`` (koajs/router#90).
* Bad patterns raise ``ValueError`` when compiled, never when matched.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote_to_bytes

__all__ = ["PathPattern", "Segment", "compile_path", "decode_param", "join_paths"]

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DEFAULT_REGEX: Final = "[^/]+"
# Characters that may stand as they are in a path; everything else in static text is encoded.
_STATIC_SAFE: Final = "/%!$&'()*+,;=:@-._~"
_MAX_OPTIONAL: Final = 8
_STAR_GROUP: Final = "_scallion_star"


class Segment(enum.Enum):
    """Non-static shapes of a path segment, as seen by the router's segment trie."""

    ANY = "any"  # one segment, whatever it holds
    REST = "rest"  # zero or more remaining segments


def decode_param(raw: str) -> str:
    """Percent-decode one captured value; keep it as it came when it cannot be decoded."""
    if "%" not in raw:
        return raw
    if _BAD_ESCAPE.search(raw) is not None:
        return raw
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return raw


@dataclass(frozen=True, slots=True)
class _Param:
    key: str
    regex: str | None  # None: the default, one non-empty segment
    optional: bool
    wildcard: bool
    group: str

    def regex_source(self) -> str:
        return self.regex if self.regex is not None else _DEFAULT_REGEX


_Part = str | _Param
_Seg = list[_Part]


def _fail(pattern: str, reason: str) -> ValueError:
    return ValueError(f"Invalid path pattern {pattern!r}: {reason}")


def _read_regex(pattern: str, start: int) -> tuple[str, int]:
    """Read a balanced ``( ... )`` starting at ``start``; return its body and the next index."""
    depth = 0
    i = start
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return pattern[start + 1 : i], i + 1
        i += 1
    raise _fail(pattern, f"the '(' at position {start} is never closed")


def _tokenize(pattern: str) -> list[_Part]:
    """Split a pattern into static text and parameters, checking the syntax as it goes."""
    parts: list[_Part] = []
    text: list[str] = []
    keys: set[str] = set()
    i = 0
    n = len(pattern)

    def add_param(key: str, regex: str | None, optional: bool, wildcard: bool) -> None:
        if key in keys:
            raise _fail(pattern, f"the parameter name {key!r} is used twice")
        keys.add(key)
        if text:
            parts.append("".join(text))
            text.clear()
        # Keys are identifiers, so they name their regex groups and ``groupdict()`` is
        # already the params dict; only the bare "*" needs a group name of its own.
        parts.append(_Param(key, regex, optional, wildcard, _STAR_GROUP if key == "*" else key))

    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise _fail(pattern, "it ends with a lone '\\'")
            text.append(pattern[i + 1])
            i += 2
        elif ch == ":":
            found = _NAME.match(pattern, i + 1)
            if found is None:
                raise _fail(
                    pattern, f"the ':' at position {i} must be followed by a parameter name"
                )
            key = found.group()
            i = found.end()
            regex: str | None = None
            if i < n and pattern[i] == "(":
                regex, i = _read_regex(pattern, i)
                if not regex:
                    raise _fail(pattern, f"the parameter {key!r} has an empty regex '()'")
                try:
                    re.compile(regex)
                except re.error as exc:
                    raise _fail(pattern, f"the regex of {key!r} is invalid: {exc}") from None
            optional = i < n and pattern[i] == "?"
            if optional:
                i += 1
            add_param(key, regex, optional, False)
        elif ch == "*":
            found = _NAME.match(pattern, i + 1)
            end = found.end() if found else i + 1
            if end != n:
                raise _fail(pattern, "a '*' wildcard must be the last thing in the pattern")
            if i == 0 or pattern[i - 1] != "/":
                raise _fail(pattern, "a '*' wildcard must start a segment, as in '/files/*'")
            add_param(found.group() if found else "*", None, False, True)
            i = end
        elif ch == "(":
            raise _fail(
                pattern, f"the '(' at position {i} must follow a parameter name, as in ':id(\\d+)'"
            )
        elif ch == ")":
            raise _fail(pattern, f"the ')' at position {i} has no matching '('")
        else:
            text.append(ch)
            i += 1
    if text:
        parts.append("".join(text))
    return parts


def _segments(pattern: str, parts: list[_Part]) -> list[_Seg]:
    """Group parts into segments (the text after each '/'); static text gets encoded."""
    segs: list[_Seg] = []
    for part in parts:
        if isinstance(part, _Param):
            segs[-1].append(part)
            continue
        pieces = part.split("/")
        if segs:
            if pieces[0]:
                segs[-1].append(quote(pieces[0], safe=_STATIC_SAFE))
        elif pieces[0]:  # cannot happen: patterns are given a leading '/'
            raise _fail(pattern, "it must start with '/'")
        for piece in pieces[1:]:
            segs.append([quote(piece, safe=_STATIC_SAFE)] if piece else [])
    for seg in segs:
        for part in seg:
            if isinstance(part, _Param) and part.optional and len(seg) != 1:
                raise _fail(
                    pattern,
                    f"the optional parameter {part.key!r} must be a whole segment, "
                    f"as in '/users/:{part.key}?'",
                )
    return segs


class PathPattern:
    """A compiled pattern: ``match()`` a raw path into params, ``build()`` a path from them."""

    __slots__ = (
        "_custom",
        "_groups",
        "_regex",
        "_root_empty",
        "_segs",
        "_simple",
        "_static_key",
        "end",
        "is_static",
        "keys",
        "pattern",
        "sensitive",
        "strict",
    )

    pattern: str
    keys: tuple[str, ...]
    is_static: bool

    def __init__(self, pattern: str, *, end: bool, strict: bool, sensitive: bool) -> None:
        self.pattern = pattern
        self.end = end
        self.strict = strict
        self.sensitive = sensitive
        source = pattern if pattern.startswith("/") else "/" + pattern
        parts = _tokenize(source)
        segs = _segments(pattern, parts)
        # Without strict, a trailing '/' in the pattern means nothing; in prefix mode it
        # only asks (under strict) that the path continue with '/'.
        trailing = len(segs) > 1 and not segs[-1]
        if trailing and (not strict or not end):
            segs = segs[:-1]
        if segs == [[]]:  # the root '/'
            segs = []
        self._segs = segs
        params = [p for seg in segs for p in seg if isinstance(p, _Param)]
        self.keys = tuple(p.key for p in params)
        self._groups = tuple((p.group, p.key, p.wildcard) for p in params)
        self._custom = tuple(p.group for p in params if p.regex is not None)
        # Plain ":name" params only: groupdict() needs nothing but decoding.
        self._simple = not any(p.regex is not None or p.optional or p.wildcard for p in params)
        self.is_static = not params

        if sum(1 for p in params if p.optional) > _MAX_OPTIONAL:
            raise _fail(pattern, f"it has more than {_MAX_OPTIONAL} optional parameters")
        body = "".join(_segment_regex(seg, strict) for seg in segs)
        if end:
            source_regex = body if (body or not strict) else "/"
        elif strict and trailing:
            source_regex = body + "(?=/)"
        else:
            source_regex = body + "(?=/|$)"
        try:
            self._regex = re.compile(source_regex, 0 if sensitive else re.IGNORECASE)
        except re.error as exc:
            raise _fail(pattern, f"its regexes do not combine: {exc}") from None
        # Strict mode: the path '/' still matches a pattern that can match nothing
        # (such as '/:id?'), since '/' is the root and not a trailing slash.
        self._root_empty = strict and end and bool(body) and self._regex.fullmatch("") is not None
        self._static_key: str | None = None
        if self.is_static and end:
            key = "".join(p for seg in segs for p in ["/", *(str(x) for x in seg)])
            if strict and not segs:
                key = "/"
            self._static_key = key if sensitive else key.lower()

    def __repr__(self) -> str:
        return f"PathPattern({self.pattern!r}, keys={self.keys!r})"

    # -- matching ------------------------------------------------------------------------

    def _params(self, found: re.Match[str]) -> dict[str, str] | None:
        values = found.groupdict()
        if self._simple:
            for key, value in values.items():
                if "%" in value:
                    values[key] = decode_param(value)
            return values
        for group in self._custom:
            value = values[group]
            if value is not None and "/" in value:
                return None
        params: dict[str, str] = {}
        for group, key, wildcard in self._groups:
            value = values[group]
            if value is None:
                if wildcard:
                    params[key] = ""
                continue
            params[key] = decode_param(value)
        return params

    def match(self, raw_path: str) -> dict[str, str] | None:
        """The decoded params when ``raw_path`` matches the whole pattern, else ``None``.

        With ``end=False`` this is a prefix match; see ``match_prefix`` for the length.
        """
        if not self.end:
            hit = self.match_prefix(raw_path)
            return None if hit is None else hit[0]
        path = raw_path[:-1] if not self.strict and raw_path.endswith("/") else raw_path
        static_key = self._static_key
        if static_key is not None:
            if not self.sensitive:
                path = path.lower()
            return {} if path == static_key else None
        found = self._regex.fullmatch(path)
        if found is None:
            if self._root_empty and raw_path == "/":
                found = self._regex.fullmatch("")
            if found is None:
                return None
        return self._params(found)

    def match_prefix(self, raw_path: str) -> tuple[dict[str, str], int] | None:
        """Params and the number of characters of ``raw_path`` the pattern consumed.

        The prefix is made of whole segments, so ``raw_path[consumed:]`` is empty or starts
        with ``/``. Works for ``end=True`` patterns too (then the whole path is consumed).
        """
        if self.end:
            params = self.match(raw_path)
            return None if params is None else (params, len(raw_path))
        found = self._regex.match(raw_path)
        if found is None:
            return None
        params = self._params(found)
        if params is None:
            return None
        return params, found.end()

    # -- building ------------------------------------------------------------------------

    def build(self, params: Mapping[str, object]) -> str:
        """A raw path for ``params``: values are percent-encoded and checked against the pattern.

        Raises ``KeyError`` for a missing required param, ``ValueError`` for a value the
        pattern would not match.
        """
        out: list[str] = []
        for seg in self._segs:
            first = seg[0] if seg else None
            if isinstance(first, _Param) and first.optional and len(seg) == 1:
                value = params.get(first.key)
                if value is None:
                    continue
            out.append("/")
            for part in seg:
                if not isinstance(part, _Param):
                    out.append(part)
                    continue
                if part.key not in params:
                    raise KeyError(part.key)
                text = str(params[part.key])
                if part.wildcard:
                    out.append(quote(text, safe="/"))
                    continue
                encoded = quote(text, safe="")
                flags = 0 if self.sensitive else re.IGNORECASE
                if re.fullmatch(part.regex_source(), encoded, flags) is None:
                    raise ValueError(
                        f"The value {text!r} for {part.key!r} does not match the pattern "
                        f"{self.pattern!r}"
                    )
                out.append(encoded)
        path = "".join(out)
        return path or "/"

    # -- for the router's segment trie ---------------------------------------------------

    def shapes(self) -> list[tuple[str | Segment, ...]]:
        """Every segment layout this pattern can match, loosened for a trie lookup.

        Static segments come lowercased, a trailing slash is dropped, an optional
        segment yields two layouts. The router checks candidates with ``match()``, so a
        shape may accept more than the pattern does, never less.
        """
        layouts: list[list[str | Segment]] = [[]]
        for seg in self._segs:
            first = seg[0] if seg else None
            if isinstance(first, _Param) and first.wildcard:
                for layout in layouts:
                    layout.append(Segment.REST)
            elif isinstance(first, _Param) and first.optional:
                layouts = layouts + [[*layout, Segment.ANY] for layout in layouts]
            elif all(isinstance(p, str) for p in seg):
                text = "".join(str(p) for p in seg).lower()
                for layout in layouts:
                    layout.append(text)
            else:
                for layout in layouts:
                    layout.append(Segment.ANY)
        result: list[tuple[str | Segment, ...]] = []
        for layout in layouts:
            # Under strict, the pattern's trailing slash is still an empty last segment;
            # the router looks paths up with one trailing slash stripped.
            if self.strict and layout and layout[-1] == "":
                layout = layout[:-1]
            shape = tuple(layout)
            if shape not in result:
                result.append(shape)
        return result


def _segment_regex(seg: _Seg, strict: bool) -> str:
    if len(seg) == 1 and isinstance(seg[0], _Param):
        param = seg[0]
        if param.wildcard:
            inner = f"(?P<{param.group}>.*)"
            return f"/{inner}" if strict else f"(?:/{inner})?"
        if param.optional:
            return f"(?:/(?P<{param.group}>{param.regex_source()}))?"
    out = ["/"]
    for part in seg:
        if isinstance(part, _Param):
            out.append(f"(?P<{part.group}>{part.regex_source()})")
        else:
            out.append(re.escape(part))
    return "".join(out)


def compile_path(
    pattern: str, *, end: bool = True, strict: bool = False, sensitive: bool = False
) -> PathPattern:
    """Compile ``pattern`` (see the module docstring); ``ValueError`` for a bad one.

    Args:
        end: match the whole path; ``False`` matches a prefix of whole segments.
        strict: a trailing slash must be there exactly when the pattern has one.
        sensitive: match case-sensitively.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"A path pattern must be a str, not {type(pattern).__name__}")
    return PathPattern(pattern, end=end, strict=strict, sensitive=sensitive)


def join_paths(prefix: str, path: str, *, strict: bool = False) -> str:
    """Join a router prefix and a route pattern: ``("/api", "/users")`` -> ``"/api/users"``.

    A route ``"/"`` (or ``""``) under a prefix is the prefix itself, unless ``strict``
    keeps its trailing slash (as @koa/router does).
    """
    prefix = prefix.rstrip("/")
    if not prefix:
        return path or "/"
    if path in ("", "/"):
        return prefix + "/" if strict and path == "/" else prefix
    if not path.startswith("/"):
        path = "/" + path
    return prefix + path
