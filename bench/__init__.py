"""Benchmarks (`make bench`): see run.py."""
