"""What counts as a loopback address, and how ``serve`` listens unless told (the bottom
layer: imports nothing of ours).

One answer for every place that lets something through only on this machine: ``serve``
without a token (``--listen``), plain http to ``--base-url``, to a webhook and to
``--attach`` with a token.
"""

from __future__ import annotations

import ipaddress

#: Where ``tenantboard serve`` listens unless told (9464: the port Prometheus exporters
#: use), here rather than in serve/ so that the command line names it without importing
#: the server (aiohttp's web part and prometheus-client: half a second) or anything that
#: speaks HTTP (httpx and asyncio: 80 ms before `tenantboard list`, or a TAB, answers).
DEFAULT_LISTEN = "127.0.0.1:9464"
#: How many connections ``serve`` holds at once unless told (--max-connections), here for
#: the same reason.
DEFAULT_MAX_CONNECTIONS = 256
#: `serve --tenant-series`: every checked tenant's series in /metrics (the default), or
#: only those of the tenants that need attention or are past their planned check.
TENANT_SERIES = ("all", "attention")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 (also as ``[::1]`` or an IPv4-mapped ``::ffff:127.x``)
    and the literal name ``localhost``. Any other name is False even if it resolves to
    loopback today: what a name resolves to can change under us (DNS rebinding)."""
    host = host.strip().removeprefix("[").removesuffix("]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
