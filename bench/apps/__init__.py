"""One small app module per framework, all serving the same scenario endpoints.

Each module builds a handful of *variants* (``base``, ``mw10``, ``router100``, ``static``, ...)
so that a scenario measures only what it names: the 100 routes of ``router100`` do not sit in
front of ``plaintext``, and the ten layers of ``mw10`` wrap nothing else.
"""
