"""Reverse-proxy configuration for one gate rule: nginx, Traefik and Caddy, as text to copy.

The one source of these snippets: the admin console shows them for each rule, ``docs/nginx/``
holds the two nginx include files exactly as ``VERIFY_LOCATION`` and ``PROTECT_DIRECTIVES`` say,
and docs/gate.md quotes what ``nginx_site``, ``traefik`` and ``caddy`` produce for its sample rule.
Tests compare them and run the nginx and Caddy output in the real servers, so the guide cannot
drift from what the console hands out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from quivive.domain.gate import GateRule

VERIFY_FILE = "quivive-verify.conf"
PROTECT_FILE = "quivive-protect.conf"
IDENTITY_HEADERS = ("Remote-User", "Remote-Name", "Remote-Email", "Remote-Groups", "Remote-AAL")

VERIFY_LOCATION = """\
# Quivive forward-auth gate for nginx: the subrequest location. Include it in every server block
# that protects an application (`include snippets/quivive-verify.conf;`). Needs an upstream named
# `quivive` in the http block:  upstream quivive { server 127.0.0.1:8080; keepalive 16; }
# Tested by tests/web/test_gate_nginx.py, which includes this very file.
location = /quivive-verify {
    internal;
    proxy_pass http://quivive/api/verify?mode=nginx;
    # The decision needs the headers (cookie, original URL), never the body.
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    # Set here, so whatever the browser sent under these names is replaced.
    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    proxy_set_header X-Original-Method $request_method;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    # Keep-alive to Quivive: a new connection per request would cost more than the check itself.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
}
"""

PROTECT_DIRECTIVES = """\
# Quivive forward-auth gate for nginx: include in each protected location, before proxy_pass
# (`include snippets/quivive-protect.conf;`). Do not put `return` in a protected location: it runs
# before auth_request and skips the check. proxy_set_header here replaces any set at server level,
# so repeat your own (Host, X-Forwarded-*) in the location.
# Tested by tests/web/test_gate_nginx.py, which includes this very file.
auth_request /quivive-verify;
auth_request_set $quivive_location $upstream_http_location;
auth_request_set $quivive_user $upstream_http_remote_user;
auth_request_set $quivive_name $upstream_http_remote_name;
auth_request_set $quivive_email $upstream_http_remote_email;
auth_request_set $quivive_groups $upstream_http_remote_groups;
auth_request_set $quivive_aal $upstream_http_remote_aal;
# Not signed in, or the level is too low: to Quivive's sign-in, then back to the original URL.
error_page 401 =302 $quivive_location;
# Signed in but not allowed: Quivive's page saying why (asked again, this time for its body).
error_page 403 = /quivive-verify;
# Always set (empty when public): a browser cannot send its own Remote-User to the application.
proxy_set_header Remote-User $quivive_user;
proxy_set_header Remote-Name $quivive_name;
proxy_set_header Remote-Email $quivive_email;
proxy_set_header Remote-Groups $quivive_groups;
proxy_set_header Remote-AAL $quivive_aal;
"""


@dataclass(frozen=True, slots=True)
class ProxySetup:
    """Where the proxy reaches Quivive and the application (host:port, as the proxy sees them)."""

    quivive: str = "127.0.0.1:8080"
    application: str = "10.0.5.20:8000"
    listen: str = "443 ssl"  # nginx ``listen``; without "ssl", no certificate lines
    snippets: str = "snippets"  # where the two nginx include files were copied


def upstream_name(rule: GateRule) -> str:
    """A name for the application's upstream, router and service: the host's first label."""
    label = rule.host.removeprefix("*.").split(".")[0]
    return re.sub(r"[^a-z0-9_]", "_", label) or "app"


def nginx_site(rule: GateRule, setup: ProxySetup = ProxySetup()) -> str:
    """An nginx server block protecting the rule's host (or path) with ``auth_request``."""
    name, host = upstream_name(rule), rule.host.removeprefix("*.")
    tls = ""
    if "ssl" in setup.listen.split():
        tls = f"    ssl_certificate     /etc/ssl/{host}.pem;\n"
        tls += f"    ssl_certificate_key /etc/ssl/{host}.key;\n"
    prefix = rule.path_prefix.rstrip("/")
    # "^~ /admin" also takes "/administration": the gate then judges each path by its own rule
    # (and denies a path that no rule covers).
    location, public = "/", ""
    if prefix:
        location = f"^~ {prefix}"
        public = (
            "    # The rest of the host, if it is public (no Quivive check):\n"
            f"    # location / {{ proxy_pass http://{name}; }}\n\n"
        )
    return (
        f"upstream quivive {{ server {setup.quivive}; keepalive 16; }}\n"
        f"upstream {name} {{ server {setup.application}; keepalive 16; }}\n"
        "\n"
        "server {\n"
        f"    listen {setup.listen};\n"
        f"    server_name {rule.host};\n"
        f"{tls}"
        "\n"
        f"    include {setup.snippets}/{VERIFY_FILE};\n"
        "\n"
        f"{public}"
        f"    location {location} {{\n"
        f"        include {setup.snippets}/{PROTECT_FILE};\n"
        "        proxy_http_version 1.1;\n"
        '        proxy_set_header Connection "";\n'
        "        proxy_set_header Host $http_host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        proxy_set_header X-Forwarded-Proto $scheme;\n"
        f"        proxy_pass http://{name};\n"
        "    }\n"
        "}\n"
    )


def traefik(rule: GateRule, setup: ProxySetup = ProxySetup()) -> str:
    """Traefik's dynamic configuration (file provider): a forwardAuth middleware and a router."""
    name = upstream_name(rule)
    headers = "".join(f"          - {header}\n" for header in IDENTITY_HEADERS)
    return (
        "# dynamic configuration (file provider)\n"
        "http:\n"
        "  middlewares:\n"
        "    quivive:\n"
        "      forwardAuth:\n"
        f'        address: "http://{setup.quivive}/api/verify?mode=redirect"\n'
        "        authResponseHeaders:\n"
        f"{headers}"
        "  routers:\n"
        f"    {name}:\n"
        f'      rule: "{_traefik_rule(rule)}"\n'
        '      middlewares: ["quivive"]\n'
        f"      service: {name}\n"
        "      tls: {}\n"
        "  services:\n"
        f"    {name}:\n"
        "      loadBalancer:\n"
        "        servers:\n"
        f'          - url: "http://{setup.application}"\n'
    )


def _traefik_rule(rule: GateRule) -> str:
    if rule.host.startswith("*."):
        # Traefik v3 syntax; the gate's "*.domain" covers sub-domains at any depth. The regular
        # expression sits in a YAML double-quoted string, where a backslash must be doubled.
        escaped = rule.host[1:].replace(".", "\\\\.")
        matcher = f"HostRegexp(`^.+{escaped}$`)"
    else:
        matcher = f"Host(`{rule.host}`)"
    prefix = rule.path_prefix.rstrip("/")
    return f"{matcher} && PathPrefix(`{prefix}`)" if prefix else matcher


def caddy(rule: GateRule, setup: ProxySetup = ProxySetup()) -> str:
    """A Caddyfile site block: ``forward_auth`` in redirect mode, then the application."""
    prefix = rule.path_prefix.rstrip("/")
    matcher = f"{prefix}* " if prefix else ""
    return (
        f"{rule.host} {{\n"
        f"\tforward_auth {matcher}{setup.quivive} {{\n"
        "\t\turi /api/verify?mode=redirect\n"
        f"\t\tcopy_headers {' '.join(IDENTITY_HEADERS)}\n"
        "\t}\n"
        f"\treverse_proxy {setup.application}\n"
        "}\n"
    )
