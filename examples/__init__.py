"""Runnable examples: `scallion serve examples.hello:app` from the repository root."""
