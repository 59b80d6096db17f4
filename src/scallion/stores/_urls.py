"""Reading Redis URLs, including the cluster form, without importing redis.

A Redis Cluster is named by every node you want the client to try first::

    redis+cluster://[user:password@]host:port[,host:port...][/0][?option=value...]
    rediss+cluster://...                       (TLS)

The client asks the first node that answers for the cluster's layout and finds the rest
itself, so two or three seed nodes are plenty. User, password and query options mean what
they mean in a ``redis://`` URL (redis-py's ``parse_url``). A cluster has one database, so
the path is empty, ``/`` or ``/0``.

Why a scheme of its own rather than guessing from a ``redis://`` URL: a single-node URL must
never turn into a cluster client (or back) because of a comma or a server's reply, and a
gateway file should say what it expects so ``scallion check`` can reject a typo up front.
``scheme+variant`` is the usual URI spelling for "the same protocol, another transport"
(``git+ssh``, ``redis+unix`` in some clients).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CLUSTER_SCHEMES", "URL_SCHEMES", "ClusterURL", "is_cluster_url", "parse_cluster_url"]

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
URL_SCHEMES = ("redis://", "rediss://", "unix://", *CLUSTER_SCHEMES)
"""Every URL form a ``RedisStore`` (and the gateway's ``redis:`` key) accepts."""

_DEFAULT_PORT = 6379


class ClusterURL(NamedTuple):
    """A parsed ``redis+cluster://`` URL."""

    nodes: tuple[tuple[str, int], ...]
    """The seed nodes, in the order given."""
    node_url: str
    """A ``redis://``/``rediss://`` URL for the first node with the same user, password and
    options: what redis-py's ``parse_url`` reads the connection options from."""


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return url[:18].lower().startswith(CLUSTER_SCHEMES)


def _node(text: str) -> tuple[str, int]:
    """``host[:port]`` or ``[v6]:port`` -> ``(host, port)``, or ``ValueError``."""
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in cluster node {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad cluster node {text!r}: expected host:port")
            port_text = rest[1:]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
    if not host or any(c in host for c in " /?#@[]"):
        raise ValueError(f"bad cluster node {text!r}: expected host:port")
    port = _DEFAULT_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in cluster node {text!r}")
        port = int(port_text)
    return host, port


def parse_cluster_url(url: str) -> ClusterURL:
    """Split a cluster URL into its seed nodes and a node URL carrying the options.

    Raises ``ValueError`` with the reason (no nodes, a bad port, a database other than 0);
    the message never repeats the URL, which may hold a password.
    """
    if not is_cluster_url(url):
        raise ValueError("not a redis+cluster:// or rediss+cluster:// URL")
    # Split by hand: urllib rejects a netloc holding several bracketed IPv6 hosts.
    scheme, _, rest = url.partition("://")
    if "#" in rest:
        raise ValueError("unexpected '#' in a cluster URL")
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    nodes = tuple(_node(h.strip()) for h in hosts.split(",") if h.strip())
    if not nodes:
        raise ValueError("no cluster nodes: expected redis+cluster://host:port[,host:port]")
    if path not in ("", "0"):
        raise ValueError(f"Redis Cluster has only database 0: drop '{slash}{path}' from the URL")
    base = "rediss" if scheme.lower().startswith("rediss") else "redis"
    host, port = nodes[0]
    shown = f"[{host}]" if ":" in host else host
    node_url = f"{base}://{userinfo}{at}{shown}:{port}/0{'?' if query else ''}{query}"
    return ClusterURL(nodes, node_url)
