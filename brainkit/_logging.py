"""The package logger. Library code logs here; it never prints.

A function that takes ``verbose`` runs its body inside :func:`use_log_level`, which sets the
level for that call only and restores it afterwards; :func:`set_log_level` (the command line, at
program start) sets it for good.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

logger = logging.getLogger("brainkit")
logger.addHandler(logging.NullHandler())

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _level(verbose) -> int:
    """A logging level from ``verbose``: True/"INFO", False/"WARNING", a level name or number."""
    if isinstance(verbose, bool):
        return logging.INFO if verbose else logging.WARNING
    if isinstance(verbose, int):
        return verbose
    if isinstance(verbose, str) and verbose.upper() in _LEVELS:
        return logging.getLevelName(verbose.upper())
    raise ValueError(f"verbose must be None, a bool, an int or one of {', '.join(_LEVELS)} "
                     f"(any case), not {verbose!r}")


def _stream_handler() -> logging.Handler | None:
    """Add a stderr handler unless one is there; returns the handler added (None if none was)."""
    if any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        return None
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s brainkit %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    return handler


def set_log_level(verbose=None) -> None:
    """Set brainkit's log level for the rest of the program (the command line does, at start).

    Parameters
    ----------
    verbose : bool | str | int | None
        True or ``"INFO"``, False or ``"WARNING"``, any level name or number; None changes nothing.
    """
    if verbose is None:
        return
    logger.setLevel(_level(verbose))
    _stream_handler()


@contextmanager
def use_log_level(verbose=None):
    """Set brainkit's log level inside a ``with`` block only (MNE's ``use_log_level`` pattern).

    Parameters
    ----------
    verbose : bool | str | int | None
        As for :func:`set_log_level`; None leaves the level as it is.

    Examples
    --------
    >>> with use_log_level("DEBUG"):
    ...     pass  # brainkit logs debug lines here; the level before is back after the block
    """
    if verbose is None:
        yield
        return
    level, before = _level(verbose), logger.level
    added = _stream_handler()
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
        if added is not None:
            logger.removeHandler(added)
