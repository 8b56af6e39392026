"""Whether a host name or address is this machine's loopback: for the server's bind and
Host checks (``api``), the client's key, and the server URL handed to other nodes."""

from __future__ import annotations

import ipaddress

# Names of this machine's loopback interface: a bind to one needs no key, and a Host
# header naming one is accepted (``api.middleware.request_guard``).
LOCAL_NAMES = frozenset(("localhost", "localhost.localdomain", "ip6-localhost"))


def is_loopback(host: str) -> bool:
    """Whether ``host`` reaches this machine only (``localhost``, 127/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
