"""``quivive rules ...``: the forward-auth gate's access rules, and what they decide for a URL."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from quivive.cli.context import EXIT_USAGE, console, fail, opened_services, state_of
from quivive.config import Settings
from quivive.domain.gate import (
    BadOriginalRequest,
    GateRule,
    Identity,
    Outcome,
    Reason,
    allowed_domains,
    decide,
    find_rule,
    is_bypass,
    parse_original,
)
from quivive.domain.sessions import AssuranceLevel
from quivive.protocols.oidc.acr import ACR_EMERGENCY

app = typer.Typer(help="Forward-auth gate: access rules per host and path.", no_args_is_help=True)


def rules_table(settings: Settings) -> Table:
    """Every [[gate.rules]] entry, numbered as in error messages (gate.rules[N])."""
    table = _table(escape("gate rules ([[gate.rules]]: most specific host, then longest prefix)"))
    for number, rule in enumerate(settings.gate.rules, 1):
        table.add_row(str(number), *_cells(rule))
    return table


def _table(title: str | None = None) -> Table:
    table = Table(title=title)
    headers = ("#", "host", "path prefix", "roles", "level", "networks", "bypass", "emergency")
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def _cells(rule: GateRule) -> tuple[str, ...]:
    level = f"AAL{int(rule.min_aal)}"
    networks = ", ".join(str(network) for network in rule.networks) or "-"
    if rule.networks_min_aal is not None:
        level += f" (AAL{int(rule.networks_min_aal)} inside networks)"
    if rule.deny_outside_networks:
        networks += " (only from these)"
    return (
        rule.host,
        rule.path_prefix,
        ", ".join(rule.roles) or "any signed-in user",
        level,
        networks,
        ", ".join(rule.bypass) or "-",
        "allowed" if rule.allow_emergency else "refused",
    )


def print_rules(settings: Settings) -> None:
    """For ``quivive config check``: the rules and where return URLs may point."""
    if not settings.gate.rules:
        console.print("gate rules: none (every host behind /api/verify is denied)")
        return
    console.print(rules_table(settings))
    domains = allowed_domains(settings.gate, settings.public_host, settings.session.cookie_domain)
    # soft_wrap: a list of domains is copied from the terminal, so never break it mid-line.
    console.print(
        "gate return URLs allowed on: " + ", ".join(domains), highlight=False, soft_wrap=True
    )


@app.command("test")
def check_url(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Original URL, e.g. https://dpi.hopital.example/x")],
    user: Annotated[str | None, typer.Option("--user", help="Username; none: signed out.")] = None,
    aal: Annotated[
        int, typer.Option("--aal", min=1, max=3, help="Level of the user's session (1 to 3).")
    ] = 1,
    address: Annotated[
        str | None, typer.Option("--from", help="Client IP address (for networks rules).")
    ] = None,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency", help="The user's session is an emergency access (bris de glace)."
        ),
    ] = False,
) -> None:
    """Show which rule matches URL and what the gate decides for --user."""
    settings = state_of(ctx).settings()
    if emergency and (user is None or aal != 1):
        # An emergency session proves the password only (AAL1), and it is someone's.
        fail("--emergency needs --user, and an emergency session is AAL1", EXIT_USAGE)
    try:
        original = parse_original("GET", url)
    except BadOriginalRequest as exc:
        fail(f"URL: {exc}", EXIT_USAGE)
    identity = None
    with opened_services(state_of(ctx)) as services:
        found = services.accounts.find(user) if user is not None else None
        # The rules in force: the file's, replaced or completed by the console's.
        rules = services.gate_rules.current().rules
    if user is not None:
        if found is None:
            fail(f"no user {user!r}")
        level = AssuranceLevel(aal)
        identity = Identity(
            found.username, found.display_name, found.email, found.roles, level, True, emergency
        )
    decision = decide(rules, original, identity, address)
    rule = is_bypass(rules, original) or find_rule(rules, original)
    if rule is None:
        console.print("rule: none matches (default deny)", highlight=False)
    else:
        in_file = rule in settings.gate.rules
        number = settings.gate.rules.index(rule) + 1 if in_file else 0
        where = f"gate.rules[{number}]" if in_file else "set in the admin console"
        console.print(f"rule: {where}", highlight=False)
        table = _table()
        table.add_row(str(number) if number else "-", *_cells(rule))
        console.print(table)
    console.print(f"path matched: {original.path}", highlight=False)
    console.print(f"decision for {_who(identity)}: {_describe(decision.outcome)}", highlight=False)
    if decision.outcome is not Outcome.ALLOW and decision.outcome is not Outcome.PUBLIC:
        console.print(f"reason: {decision.reason.value}", highlight=False)
    if decision.reason is Reason.EMERGENCY_REFUSED:
        console.print("the rule does not say allow_emergency = true", highlight=False)
    elif identity is not None and identity.emergency and decision.outcome is Outcome.ALLOW:
        console.print("the application receives Remote-Emergency: true", highlight=False)
    if decision.outcome in (Outcome.SIGN_IN, Outcome.STEP_UP):
        console.print(f"level required: AAL{int(decision.required_level)}", highlight=False)


@app.command("list")
def list_rules(ctx: typer.Context) -> None:
    """The rules in force: the configuration file's and the admin console's (which replace the
    file's rule for the same host and path prefix)."""
    with opened_services(state_of(ctx)) as services:
        rules = services.gate_rules.in_force()
    table = _table(escape("gate rules in force (most specific host, then longest prefix)"))
    table.add_column("source")
    for number, item in enumerate(rules, 1):
        source = "console" if item.source == "database" else "file"
        table.add_row(str(number), *_cells(item.rule), source)
    console.print(table)


_DESCRIPTIONS = {
    Outcome.ALLOW: "allow (200 with Remote-User, Remote-Groups, Remote-AAL...)",
    Outcome.PUBLIC: "public path (200 without identity)",
    Outcome.SIGN_IN: "sign in first (401 for nginx, 302 with mode=redirect)",
    Outcome.STEP_UP: "step up (401 for nginx, 302 with mode=redirect, to a second factor)",
    Outcome.DENY: "deny (403 with a page saying why)",
}


def _who(identity: Identity | None) -> str:
    if identity is None:
        return "signed out"
    if identity.emergency:
        return f"{identity.username} in an emergency session (AAL1, acr {ACR_EMERGENCY})"
    return f"{identity.username} at AAL{int(identity.aal)}"


def _describe(outcome: Outcome) -> str:
    return _DESCRIPTIONS[outcome]
