"""Import these fixtures into a test module to give each of its tests a broker of its own
(`from bookflow_devstack.broker_per_test import kafka, kafka_server`); a broker shared by the
session (Apache Kafka from the environment or a container) stays shared.

For tests that kill and restart service processes: such a process leaves members behind in its
consumer groups, and tansu has been seen to keep a later test's members of the same groups
waiting for their partitions for over 40 s (Apache Kafka drops dead members after a session
timeout). A later test in the same module then waited for records nobody read."""
from __future__ import annotations

from bookflow_devstack.testing import broker_fixtures

kafka_server, kafka = broker_fixtures("function")
