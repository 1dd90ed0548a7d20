"""``quivive policy ...``: the MFA requirement per role, and who still has a password only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from quivive.cli.context import EXIT_USAGE, console, fail, opened_services, print_json, state_of
from quivive.composition import Services
from quivive.domain.mfa_policy import MAX_GRACE_DAYS, MfaRule, requirement_for

app = typer.Typer(
    help="MFA policy: which roles need a second factor, from when.", no_args_is_help=True
)
ACTOR = "cli"


@app.command("set-mfa")
def set_mfa(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="Role the rule applies to.")],
    start: Annotated[
        str, typer.Option("--from", help="Date from which MFA is required (YYYY-MM-DD).")
    ],
    grace_days: Annotated[
        int, typer.Option("--grace-days", help="Days after --from during which users can skip.")
    ] = 0,
    phishing_resistant: Annotated[
        bool,
        typer.Option("--phishing-resistant", help="Accept passkeys and security keys only."),
    ] = False,
) -> None:
    """Require a second factor for ROLE from a date (replaces that role's rule)."""
    try:
        enforce_from = datetime.strptime(start, "%Y-%m-%d").date()
    except ValueError:
        fail(f"--from: expected a date like 2026-01-01, got {start!r}", EXIT_USAGE)
    if not 0 <= grace_days <= MAX_GRACE_DAYS:
        fail(f"--grace-days: expected 0 to {MAX_GRACE_DAYS}, got {grace_days}", EXIT_USAGE)
    with opened_services(state_of(ctx)) as services:
        rule = services.mfa_policy.set_rule(
            MfaRule(role, enforce_from, grace_days, phishing_resistant), actor=ACTOR
        )
    deadline = rule.deadline.date().isoformat()
    strict = ", phishing-resistant factors only" if rule.phishing_resistant else ""
    console.print(
        f"MFA required for role [bold]{rule.role}[/] from {rule.enforce_from.isoformat()} "
        f"(enforced from {deadline}{strict})",
        highlight=False,
    )


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The MFA rules in force, and the users of those roles still without a second factor."""
    with opened_services(state_of(ctx)) as services:
        rules = services.mfa_policy.in_force()
        lagging = _password_only(services)
    if as_json:
        document = {
            "rules": [
                {
                    "role": item.rule.role,
                    "from": item.rule.enforce_from.isoformat(),
                    "grace_days": item.rule.grace_days,
                    "deadline": item.rule.deadline.date().isoformat(),
                    "phishing_resistant": item.rule.phishing_resistant,
                    "source": item.source,
                }
                for item in rules
            ],
            "password_only": [{"username": name, "state": state} for name, state in lagging],
        }
        print_json(document)
        return
    table = Table("role", "from", "grace days", "enforced from", "factors", "source")
    for item in rules:
        rule = item.rule
        table.add_row(
            rule.role,
            rule.enforce_from.isoformat(),
            str(rule.grace_days),
            rule.deadline.date().isoformat(),
            "phishing-resistant only" if rule.phishing_resistant else "any second factor",
            item.source,
        )
    console.print(table if rules else "no MFA rule: a password alone is accepted for every role")
    if lagging:
        users = Table("user still without a suitable second factor", "state")
        for name, state in lagging:
            users.add_row(name, state)
        console.print(users)


def _password_only(services: Services) -> list[tuple[str, str]]:
    """(username, "nudged" or "blocked") for each user a rule covers who lacks a suitable factor."""
    rules, now = services.mfa_policy.rules(), services.clock.now()
    found: list[tuple[str, str]] = []
    for user in services.accounts.list():
        requirement = requirement_for(user.roles, rules, now)
        if requirement.deadline is None:
            continue
        enrolled = [f for f in services.mfa.factors.usable(user.id) if not f.is_backup]
        if requirement.phishing_resistant:
            enrolled = [f for f in enrolled if f.phishing_resistant]
        if not enrolled:
            found.append((user.username, "blocked" if requirement.required else "nudged"))
    return found
