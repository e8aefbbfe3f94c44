"""Reading recordings: any format MNE reads (plus a few it does not), from a path or an upload.

``read_recording`` is the one entry point; it returns a de-identified :class:`Recording`.
"""

from brainkit.io.reader import (  # noqa: F401
    DEFAULT_LIMITS,
    FORMATS,
    Limits,
    Recording,
    check_limits,
    list_recordings,
    read_recording,
    recording_from_raw,
    supported_formats,
)
