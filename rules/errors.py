"""The rules package's exception root."""

from __future__ import annotations


class RuleError(Exception):
    """A rule could not be loaded, checked, stored or evaluated; the message says why."""
