"""The sweeper's one-line error for bad input (caught by the core: printed, exit 2)."""

from __future__ import annotations

from training.errors import UserError


class SweepError(UserError):
    """The sweep cannot start or must stop; the message says why in one line."""
