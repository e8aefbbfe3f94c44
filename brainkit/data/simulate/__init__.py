"""SIMULATED recordings with known, visible phenomena, from physics and a seed (no download).

Four recordings, each a function returning an :class:`mne.io.RawArray` in physical units (V for
EEG/EOG, T for magnetometers, T/m for gradiometers), and :func:`write_samples`, which writes all
four to ``sample_data/`` (see its README):

- :func:`simulate_eyes`: 10-20 EEG in alternating eyes-open / eyes-closed blocks; posterior
  ~10 Hz alpha far stronger with eyes closed, blinks on Fp1/Fp2 with eyes open, 1/f background.
- :func:`simulate_oddball`: 10-20 EEG, a tone every ~1 s, about 1 in 6 a target; N1/P2 after
  every tone, a parietal P300 after targets only.
- :func:`simulate_sleep`: sleep derivations (``C3-A2``, ``C4-A1``, ...) + EOG, 30-s stages along
  a plausible hypnogram, each stage with its scoring signature.
- :func:`simulate_meg`: 306-channel Neuromag-style MEG, an M100 from both auditory cortices after
  every tone (about 1 in 6 a deviant, with a mismatch field), events in ``STI 014``.

Physics and geometry
--------------------
- **EEG**: electrodes at MNE's template montage ``colin27_1005`` (10-05 positions fitted on the
  Colin27 head, shipped in ``mne/channels/data/montages/colin27_1005.elc``); potentials of
  current dipoles in a four-layer sphere fitted to them (``mne.make_sphere_model("auto",
  "auto")``) from ``mne.make_forward_dipole``; common average reference. Blinks are not brain
  sources: their field falls off exponentially with distance from the eyes.
- **MEG**: the 306 sensors of an Elekta/MEGIN Neuromag VectorView (102 magnetometers, coil type
  3024; 204 planar gradiometers, coil type 3012) from
  ``mne.channels.read_meg_canonical_info("neuromag")``, i.e. the table
  ``mne/channels/data/canonical_meg/neuromag306.csv`` that MNE (1.12 and later) ships: for each
  channel its name, coil type, position and coil frame (ex, ey, ez; ez is the normal) in the
  device frame, copied unchanged into ``info["chs"][i]["loc"]``. The head sits in the helmet by
  a fixed device-to-head translation (:data:`MEG_DEV_HEAD_SHIFT_M`), a typical position rather
  than a measured one. Fields of dipoles in a conducting sphere (MNE's coil definitions, via
  ``mne.make_forward_dipole``).
- **Sleep**: no forward model; each derivation weights shared rhythm generators by its scalp
  region and adds its own 1/f background, in the microvolt ranges of the scoring rules (e.g. N3
  slow waves of 0.5-2 Hz above 75 uV peak to peak).

Ongoing activity is 1/f noise of randomly placed dipoles (EEG, MEG) or per channel (sleep);
sensors add white noise. Each component draws from its own random stream derived from ``seed``,
so changing one component leaves the others as they were.

Determinism
-----------
:func:`write_samples` writes the same bytes on every run: the measurement date is fixed
(:data:`MEAS_DATE`), every file stores 16-bit integers (so last-bit differences between BLAS
builds do not reach the file), the machine id that MNE puts into FIF file and block ids is
cleared, and the FIF file is gzip-compressed without a time stamp.

Modules: :mod:`~.signals` (random streams, spectral noise, transients), :mod:`~.head` (montage,
sphere, forward gains, background and alpha sources), :mod:`~.eeg`, :mod:`~.meg`,
:mod:`~.sleep` (one simulation each), :mod:`~.write` (the sample files), :mod:`~.calibrate`
(simulated against real read-out features: the table that sets the eyes and sleep levels),
:mod:`~.scene` (the teaching simulator's sources on four montages, with the same head, background
and levels).
"""


from brainkit.data.simulate.eeg import (  # noqa: F401
    EyesConfig,
    OddballConfig,
    simulate_eyes,
    simulate_oddball,
)
from brainkit.data.simulate.head import (  # noqa: F401
    EEG_19,
    EEG_32,
    EEG_MONTAGE,
    MEG_DEV_HEAD_SHIFT_M,
    MEG_LSB,
    MEG_SPHERE_ORIGIN_M,
    MEG_STIM,
    AlphaConfig,
    BackgroundConfig,
)
from brainkit.data.simulate.meg import MegConfig, simulate_meg  # noqa: F401
from brainkit.data.simulate.signals import MEAS_DATE, NAM, SIMULATED_DEVICE, SIMULATED_NOTE, UV  # noqa: F401
from brainkit.data.simulate.sleep import (  # noqa: F401
    SLEEP_DERIVATIONS,
    SLEEP_EOG,
    STAGE_EPOCH_S,
    STAGE_LABELS,
    SleepConfig,
    simulate_sleep,
)
from brainkit.data.simulate.write import BRAINVISION_RESOLUTION_UV, write_samples  # noqa: F401
