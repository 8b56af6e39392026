"""Who owns a run: host name and instance id of the runner that started it.

Inside containers every replica has its own PID namespace, so a PID means something
only to processes of the same instance. ``CONDUCTOR_INSTANCE_ID`` names the instance
explicitly (Compose replicas set it); otherwise the host name stands in.
"""

from __future__ import annotations

import os
import socket


def host_name() -> str:
    return socket.gethostname()


def instance_id() -> str:
    return os.environ.get("CONDUCTOR_INSTANCE_ID") or host_name()
