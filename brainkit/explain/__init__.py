"""Why the model answered: attributions, attention, sanity checks and task correlations.

Everything here takes a model and windows; nothing here reads a training corpus (reference
windows from the corpora are picked by :mod:`brainkit.data.reference`).

- :mod:`~brainkit.explain.attribution`: integrated gradients over samples and tokens, one window's
  whole explanation (:func:`explain_window`, the ``explain`` command);
- :mod:`~brainkit.explain.integrated`: integrated gradients over a path cut into pieces, and their
  completeness;
- :mod:`~brainkit.explain.readout`: the read-out inside explanations, and its logit decomposition;
- :mod:`~brainkit.explain.attention`: connector and language-model attention, query routing;
- :mod:`~brainkit.explain.sanity`: cascading randomisation and answer contrast;
- :mod:`~brainkit.explain.correlations`: task x task similarities;
- :mod:`~brainkit.explain.regions`: scalp regions and the eyes-closed physiology check.

The submodules import torch and the model; import them where they are used.
"""
