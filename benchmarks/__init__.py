"""Side-by-side benchmarks of runpod-facade against runpod-python and raw HTTP clients.

Run with ``make bench`` (or ``.venv-bench/bin/python -m benchmarks [--quick] [--only NAME]``);
see benchmarks/README.md.
"""
