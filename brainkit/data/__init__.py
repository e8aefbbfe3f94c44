"""Data the project reads or makes: one adapter per corpus of ``../shared/data``, evaluation
manifests, and the simulated sample recordings."""
