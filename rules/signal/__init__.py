"""Depth and signal-scale rules (THEORY R5): they judge the signal and depth passes' numbers."""
