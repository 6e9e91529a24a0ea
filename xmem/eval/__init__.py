"""Accuracy: DAVIS metrics (J and F), the evaluation runner and its report."""
