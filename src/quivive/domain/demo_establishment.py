"""The demo establishment (``quivive demo``): a fictional hospital's staff, as plain data.

Everything here is invented: the establishment, its FINESS number, the people and their RPPS
numbers. The roster is drawn from a seeded ``random.Random``, so the same seed gives the same
people, factors and history on every machine (the tests and the README rely on it).
"""

from __future__ import annotations

import enum
import random
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, timedelta

from quivive.domain.mfa_policy import MfaRule

ESTABLISHMENT_NAME = "Centre hospitalier de Valmont"
FINESS = "999000123"  # fictional: department "99" names no French département
EMAIL_DOMAIN = "ch-valmont.example"  # RFC 2606: never a real mailbox
DEFAULT_SEED = 2026
# One password for every demo account, printed by ``quivive demo``: they share one Argon2id hash
# so seeding stays fast. It passes the password rules (length, blocklist, context words).
DEMO_PASSWORD = "tisane-brancard-azur-47"  # noqa: S105 - printed for the demo on purpose
DORMANT_AFTER = timedelta(days=90)  # the posture report's "dormant account" line

# RPPS: 11 digits, the last a Luhn key; "100" then random digits keeps them recognisable.
RPPS_PREFIX = "100"


class DemoFactor(enum.StrEnum):
    TOTP = "totp"
    PASSKEY = "passkey"
    RECOVERY = "recovery"


@dataclass(frozen=True, slots=True)
class Role:
    identifier: str  # ascii, what rules and relying parties see
    label_fr: str
    label_en: str
    count: int
    health_professional: bool  # has an RPPS number
    # Share of the role with each primary factor; the rest is password-only.
    passkey_share: float
    totp_share: float
    mfa_from_days: int  # the MFA rule's enforcement date, in days from seeding (<0: past)
    phishing_resistant: bool = False


ROLES: tuple[Role, ...] = (
    Role("medecin", "Médecin", "Physician", 9, True, 0.45, 0.4, -300),
    Role("infirmier", "Infirmier·e", "Nurse", 12, True, 0.15, 0.6, -120),
    Role("aide-soignant", "Aide-soignant·e", "Care assistant", 9, False, 0.0, 0.35, 45),
    Role("secretaire-medicale", "Secrétaire médicale", "Medical secretary", 6, False, 0, 0.3, 20),
    Role("travailleur-social", "Travailleur·se social·e", "Social worker", 4, False, 0, 0.5, 120),
    # Not yet "phishing-resistant only": the featured administrator signs in with TOTP, and the
    # posture report points out that administrators should not.
    Role("admin", "Administrateur·rice", "Administrator", 3, False, 0.67, 0.33, -200),
)

FIRST_NAMES = (
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Julie", "Clara", "Emma", "Louise",
    "Anaïs", "Pauline", "Margaux", "Hélène", "Élise", "Nadia", "Fatou", "Sophie", "Agnès",
    "Lucas", "Hugo", "Thomas", "Nicolas", "Karim", "Mathieu", "Julien", "Antoine", "Yann",
    "Rémi", "Olivier", "Bastien", "Mehdi", "François", "Gaël", "Loïc", "Théo", "Amadou",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet",
    "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin",
    "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu", "Clément", "Gauthier",
    "Diallo", "Benali", "Nguyen", "Le Gall", "Kervella", "Ferrand",
)  # fmt: skip


def ascii_login(first: str, last: str) -> str:
    raw = f"{first}.{last}".replace(" ", "-").casefold()
    decomposed = unicodedata.normalize("NFKD", raw)
    return "".join(ch for ch in decomposed if ch.isascii())


TOTP, PASSKEY, RECOVERY = DemoFactor.TOTP, DemoFactor.PASSKEY, DemoFactor.RECOVERY

# The people the README's walk-through signs in as (their TOTP secret is printed by the demo).
FEATURED: tuple[tuple[str, str, str, frozenset[DemoFactor]], ...] = (
    ("Camille", "Durand", "infirmier", frozenset({TOTP, RECOVERY})),
    ("Karim", "Benali", "medecin", frozenset({TOTP, RECOVERY})),
    ("Inès", "Moreau", "secretaire-medicale", frozenset()),
    ("Sophie", "Garnier", "admin", frozenset({TOTP, RECOVERY})),
)
FEATURED_USERNAMES = frozenset(ascii_login(first, last) for first, last, *_ in FEATURED)


@dataclass(frozen=True, slots=True)
class DemoPerson:
    username: str
    display_name: str
    role: str
    rpps: str | None
    factors: frozenset[DemoFactor]
    disabled: bool = False
    dormant: bool = False  # last sign-in long before the history window

    @property
    def email(self) -> str:
        return f"{self.username}@{EMAIL_DOMAIN}"

    @property
    def has_mfa(self) -> bool:
        return bool(self.factors - {DemoFactor.RECOVERY})


def roster(seed: int = DEFAULT_SEED) -> list[DemoPerson]:
    """The staff: the featured people first, then the others drawn role by role."""
    rng = random.Random(seed)  # noqa: S311 - reproducible fiction, not secrets
    people = [_featured(rng, *entry) for entry in FEATURED]
    drawn = _unique_names(rng, sum(role.count for role in ROLES) - len(people))
    for role in ROLES:
        for _ in range(role.count - sum(1 for p in people if p.role == role.identifier)):
            first, last = drawn.pop()
            people.append(_person(rng, role, first, last))
    return _with_twists(people)


def mfa_rules(today: date) -> list[MfaRule]:
    """One rule per role: physicians, nurses and administrators are past their deadline."""
    return [
        MfaRule(
            role.identifier,
            today + timedelta(days=role.mfa_from_days),
            grace_days=0 if role.mfa_from_days < 0 else 30,
            phishing_resistant=role.phishing_resistant,
        )
        for role in ROLES
    ]


def role_named(identifier: str) -> Role:
    return next(role for role in ROLES if role.identifier == identifier)


def rpps_number(rng: random.Random) -> str:
    body = RPPS_PREFIX + "".join(str(rng.randrange(10)) for _ in range(7))
    return body + str(luhn_key(body))


def luhn_key(digits: str) -> int:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def _featured(
    rng: random.Random, first: str, last: str, role_id: str, factors: frozenset[DemoFactor]
) -> DemoPerson:
    role = role_named(role_id)
    return DemoPerson(
        username=ascii_login(first, last),
        display_name=_title(role) + f"{first} {last}",
        role=role_id,
        rpps=rpps_number(rng) if role.health_professional else None,
        factors=factors,
    )


def _title(role: Role) -> str:
    return "Dr " if role.identifier == "medecin" else ""


def _unique_names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    taken = {ascii_login(first, last) for first, last, *_ in FEATURED}
    logins = {ascii_login(first, last) for first in FIRST_NAMES for last in LAST_NAMES}
    pairs = [(f, la) for f in FIRST_NAMES for la in LAST_NAMES if ascii_login(f, la) not in taken]
    if len(logins) < len(pairs):
        raise ValueError("two names give the same login")  # data error: caught by the tests
    chosen = rng.sample(pairs, count)
    return list(reversed(chosen))  # popped from the end: keep the drawn order


def _person(rng: random.Random, role: Role, first: str, last: str) -> DemoPerson:
    draw = rng.random()
    factors: set[DemoFactor] = set()
    if draw < role.passkey_share:
        factors = {DemoFactor.PASSKEY, DemoFactor.RECOVERY}
    elif draw < role.passkey_share + role.totp_share:
        factors = {DemoFactor.TOTP} | ({DemoFactor.RECOVERY} if rng.random() < 0.5 else set())
    return DemoPerson(
        username=ascii_login(first, last),
        display_name=f"{_title(role)}{first} {last}",
        role=role.identifier,
        rpps=rpps_number(rng) if role.health_professional else None,
        factors=frozenset(factors),
    )


def _with_twists(people: list[DemoPerson]) -> list[DemoPerson]:
    """Fixed findings, whatever the draw: the report's failing checks need them."""
    by_role: dict[str, list[int]] = {}
    for position, person in enumerate(people):
        if person.username not in FEATURED_USERNAMES:
            by_role.setdefault(person.role, []).append(position)
    # An administrator with a passkey and no recovery codes; the featured one has TOTP only.
    people[by_role["admin"][0]] = replace(people[by_role["admin"][0]], factors=frozenset({PASSKEY}))
    # A physician who never enrolled, past the deadline: the sign-in asks them to enrol first.
    people[by_role["medecin"][-1]] = replace(people[by_role["medecin"][-1]], factors=frozenset())
    for role in ("infirmier", "aide-soignant"):
        people[by_role[role][-1]] = replace(people[by_role[role][-1]], disabled=True)
    for role, rank in (("infirmier", -2), ("secretaire-medicale", -1), ("travailleur-social", 0)):
        people[by_role[role][rank]] = replace(people[by_role[role][rank]], dormant=True)
    return people
