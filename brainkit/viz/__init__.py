"""Plotly figures of recordings, sensors, tokens, answers and explanations."""
