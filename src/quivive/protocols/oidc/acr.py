"""Authentication context class references (OIDC Core §2 ``acr``, §3.1.2.1 ``acr_values``).

The one table mapping Quivive's ``acr`` values to NIST assurance levels. A relying party that
sends ``acr_values`` gets a step-up when the session's level is lower, and always reads the level
achieved in the ID token's ``acr``.

``urn:quivive:acr:emergency`` is the acr of an emergency session (bris de glace: the password
alone, for a short time). It is no level on the AAL scale: it never satisfies a request for
AAL2 or AAL3, only a request that lists it among its ``acr_values``.
"""

from __future__ import annotations

from collections.abc import Iterable

from quivive.domain.sessions import AssuranceLevel

ACR_AAL1 = "urn:quivive:acr:aal1"
ACR_AAL2 = "urn:quivive:acr:aal2"
ACR_AAL3 = "urn:quivive:acr:aal3"
ACR_EMERGENCY = "urn:quivive:acr:emergency"  # emergency access: see the module docstring

ACR_LEVELS: dict[str, AssuranceLevel] = {
    ACR_AAL1: AssuranceLevel.AAL1,
    ACR_AAL2: AssuranceLevel.AAL2,
    ACR_AAL3: AssuranceLevel.AAL3,
}
LEVEL_ACRS = {level: acr for acr, level in ACR_LEVELS.items()}


def acr_for(level: AssuranceLevel, *, emergency: bool = False) -> str:
    return ACR_EMERGENCY if emergency else LEVEL_ACRS[level]


def accepts_emergency(acr_values: Iterable[str]) -> bool:
    """Whether the relying party explicitly accepts an emergency session."""
    return ACR_EMERGENCY in acr_values


def required_level(acr_values: Iterable[str]) -> AssuranceLevel | None:
    """The lowest level among the requested values Quivive knows (the RP accepts any of them).

    OIDC Core §3.1.2.1: acr_values lists values "in order of preference"; any listed value
    satisfies the request, so the least demanding known one is what must be reached. Unknown
    values are ignored (the claim is voluntary unless requested as essential).
    """
    levels = [ACR_LEVELS[value] for value in acr_values if value in ACR_LEVELS]
    return min(levels) if levels else None
