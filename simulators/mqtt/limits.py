"""Open-file limits: ten thousand device sessions need ten thousand sockets in one process."""

from __future__ import annotations

import logging
import resource

from simulators.errors import ResourceLimitError

logger = logging.getLogger(__name__)

_SPARE = 256
"""Descriptors kept for everything else (database, logs, the event loop)."""


def ensure_open_files(sessions: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE (up to the hard limit) to fit ``sessions`` sockets.

    Returns the soft limit in force; raises :class:`ResourceLimitError` when the hard limit is
    too low, saying how to raise it.
    """
    needed = sessions + _SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        logger.info("raised the open-file limit from %d to %d", soft, target)
        soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise ResourceLimitError(
            f"{sessions} device sessions need about {needed} open files but the hard limit is "
            f"{hard}: raise it (ulimit -Hn, LimitNOFILE= in a systemd unit, nofile in "
            "/etc/security/limits.conf; the broker needs as many) or use gateway mode"
        )
    return soft
