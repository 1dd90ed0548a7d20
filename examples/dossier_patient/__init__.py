"""A sample "dossier patient" application that signs its users in through Quivive.

It is what a health application's developer would write: OpenID Connect authorization code with
PKCE as a confidential client, the ID token checked against Quivive's JWKS, and the patient
records behind AAL2 (``acr_values``), with emergency access (bris de glace) accepted but marked.
``quivive demo`` starts it next to Quivive; ``python -m dossier_patient`` runs it alone.
"""

from dossier_patient.app import AppConfig, create_app

__all__ = ["AppConfig", "create_app"]
