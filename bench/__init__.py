"""Benchmarks, run on purpose (not in the test suite): see bench/README.md."""
