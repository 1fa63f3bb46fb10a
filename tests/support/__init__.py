"""Helpers shared by the test suites (importable as ``support``; ``pytest`` puts ``tests/`` on the path)."""
