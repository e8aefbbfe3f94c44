"""The package logger. Library code logs here; it never prints."""

import logging

logger = logging.getLogger("brainkit")
logger.addHandler(logging.NullHandler())


def set_log_level(verbose=None) -> None:
    """Set brainkit's log level: True/"INFO", False/"WARNING", or any logging level name."""
    if verbose is None:
        return
    if isinstance(verbose, bool):
        verbose = "INFO" if verbose else "WARNING"
    logger.setLevel(verbose.upper() if isinstance(verbose, str) else verbose)
    if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s brainkit %(levelname)s: %(message)s"))
        logger.addHandler(handler)
