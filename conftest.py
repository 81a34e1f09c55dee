"""Fixtures for every test in the repository live in bookflow_devstack.testing."""
pytest_plugins = ["bookflow_devstack.testing"]
