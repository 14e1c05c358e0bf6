"""Benchmarks: ours against a comparator measured in the same run; medians and ratios."""
