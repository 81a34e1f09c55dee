"""Ports for services under test: free, and out of the kernel's range for outgoing connections
whenever there is room, so that no process's own connection takes one before it listens."""
from __future__ import annotations

from unittest import mock

import pytest

from bookflow_devstack import infra


@pytest.mark.parametrize(("ephemeral", "outside"), [
    ((32768, 60999), lambda p: p < 32768),     # Linux's default: below it
    ((1024, 40000), lambda p: p > 40000),      # no room below: above it
    ((1024, 65535), lambda p: p >= 10_000),    # everything is ephemeral: any free port
])
def test_five_consecutive_ports_are_free_and_outside_the_range_for_outgoing_connections(ephemeral, outside):
    with mock.patch.object(infra, "_ephemeral_ports", return_value=ephemeral):
        first = infra.free_port(5)
    assert all(outside(first + i) and infra.port_is_free(first + i) for i in range(5))
