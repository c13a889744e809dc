"""The one error the security set-up raises: a file it needs is unreadable or wrong."""

from __future__ import annotations


class SecurityFileError(Exception):
    """A keys file or TLS file that cannot be used; the message is one line saying which
    file, what is wrong with it and what to do (``serve`` prints it and exits)."""
