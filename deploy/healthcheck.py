#!/usr/bin/env python3
"""Container health check: exit 0 when this service's /health/ready answers 200.

The port comes from BOOKFLOW_<NAME>_HTTP_PORT, the variable the service listens on, so the
check never drifts from the configuration. Standard library only.
"""

import os
import sys
import urllib.request

# The services' own defaults (their settings.py), used when the variable is not set.
DEFAULT_PORTS = {"booking": 8101, "notification": 8102, "scheduler": 8103, "recall": 8104, "checkin": 8105}

service = os.environ.get("BOOKFLOW_SERVICE", "")
port = os.environ.get(f"BOOKFLOW_{service.upper()}_HTTP_PORT") or DEFAULT_PORTS.get(service, 8000)
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # 503 while starting, refused connection, timeout: all unhealthy
    print(f"not ready: {exc}", file=sys.stderr)
    sys.exit(1)
