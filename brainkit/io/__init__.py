"""Reading recordings: any format MNE reads (plus a few it does not), from a path or an upload.

``read_recording`` is the one entry point; it returns a de-identified :class:`Recording`.

- :mod:`~brainkit.io.recording`: :class:`Recording`, :func:`read_recording`
- :mod:`~brainkit.io.readers`: the dispatch table :data:`READERS` (extension -> reader)
- :mod:`~brainkit.io.sources`: uploads, zip and gzip, safe names, the entry file
- :mod:`~brainkit.io.limits`: :class:`Limits`, checked from headers before data is loaded
- :mod:`~brainkit.io.clean`: channel kinds, de-identification, units, non-finite samples
- :mod:`~brainkit.io.formats`: the hand-written readers (CSV, text, XDF, NumPy, ...)
- :mod:`~brainkit.io.nihon`, :mod:`~brainkit.io.bci2000`: ``.eeg`` and ``.dat``, whose format is told by
  the header and the files beside them (Nihon Kohden or BrainVision; BCI2000, BrainVision or Curry)
- :mod:`~brainkit.io.bids`: BIDS datasets, read with MNE-BIDS
"""

from brainkit.io.limits import DEFAULT_LIMITS, Limits, check_limits  # noqa: F401
from brainkit.io.readers import FORMATS, READERS, supported_formats  # noqa: F401
from brainkit.io.recording import Recording, read_recording, recording_from_raw  # noqa: F401
from brainkit.io.sources import list_recordings  # noqa: F401
