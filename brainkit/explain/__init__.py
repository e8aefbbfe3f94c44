"""Why the model answered: attributions, attention, sanity checks and task correlations.

Everything here takes a model and windows; nothing here reads a training corpus.
"""
