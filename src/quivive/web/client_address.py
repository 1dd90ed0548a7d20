"""Which address a request really comes from.

Trust in proxy headers is an explicit count (as Werkzeug's ProxyFix): with N trusted proxies the
client is the Nth address from the right of X-Forwarded-For, the one our outermost proxy saw. With
N = 0 the header is ignored, so a spoofed X-Forwarded-For cannot dodge per-address throttling.
"""

from __future__ import annotations

import ipaddress


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: int) -> str | None:
    if trusted_proxies <= 0 or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if not hops:
        return peer
    candidate = hops[-trusted_proxies] if len(hops) >= trusted_proxies else hops[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
