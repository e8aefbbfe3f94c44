"""brainkit: read any EEG or MEG recording, turn it into neural tokens, decode it with one model.

The data path, one module each::

    io.read_recording -> preprocess.make_windows -> tokenizer -> decoder -> explain -> plots

``import brainkit`` stays light: modules load when used.
"""

__version__ = "0.1.0"

from brainkit._logging import set_log_level  # noqa: F401
from brainkit.errors import BrainkitError  # noqa: F401
