"""Metrics, classical baselines and evaluation protocols (manifests, cross-validation)."""
