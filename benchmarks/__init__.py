"""Benchmarks: OR-Library optima and comparison with PySAL spopt (not timed tests)."""
