"""``python -m brainkit bench``: speed and memory of the whole path, measured (BENCHMARKS.md)."""
