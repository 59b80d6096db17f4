"""scallion's benchmark suite: HTTP throughput beside its peers, and micro-benchmarks.

Run it with ``python -m bench http --quick`` (see bench/README.md).
"""
