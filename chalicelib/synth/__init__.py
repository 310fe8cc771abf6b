"""Synthetic Vietnamese registry and dirty vaccination records with ground truth (tests, bench)."""
