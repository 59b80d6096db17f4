"""Runnable counterparts of the middleware snippets in shared/seeds/ (one module per snippet).

Each module names its seed file and section, exposes an ``app``, and prints what the
JavaScript original logged with ``console.log``; tests/examples/ checks the output.
"""
