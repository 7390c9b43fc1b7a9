"""Errors a user can fix. The CLI prints them as one line and exits with code 2 (no traceback)."""
from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (a name, a size, an option value); the message names the fix."""


class UnknownModelError(UsageError, KeyError):
    """No zoo has a model of that name; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
