"""Integrations of the tracker with labelling platforms (optional extras)."""
