"""Benchmark scripts: run with `python -m benchmarks.<name>`; they use seglab's public API only."""
