"""Benchmarks of newsgraph: generated extractor records, load, page, timeline, memory and start.

Each module is one command (`python -m bench.load_embedded`, or `python bench/load_embedded.py`)
that prints its figures beside a baseline measured in the same run. Results and how to rerun
them are in `docs/benchmarks.md`. None of this is a test: nothing here asserts a timing.
"""
