"""The software authenticator, for tests (it lives in the package: the demo seeds passkeys too)."""

from quivive.protocols.soft_authenticator import AT, BE, BS, UP, UV, SoftAuthenticator

__all__ = ["AT", "BE", "BS", "UP", "UV", "SoftAuthenticator"]
