"""Evaluation: DAVIS metrics, dataset layouts, the evaluation runner and benchmarks."""
