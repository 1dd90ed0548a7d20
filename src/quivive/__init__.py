"""Quivive: strong authentication for hospitals, nursing homes and social-care organisations."""

__version__ = "0.1.0"
