"""Tiny apps that tests/test_server.py and tests/test_cli.py serve in a real server process."""
