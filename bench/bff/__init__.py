"""``python -m bench bff``: the issue-5 fan-out benchmark (see bench/README.md)."""
