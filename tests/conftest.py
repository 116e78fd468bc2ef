"""Fixtures shared across the suite live in tests/support/ and are registered here."""

pytest_plugins = ["tests.support.gateway", "tests.support.daemon", "tests.support.filesystems", "tests.support.broker"]
