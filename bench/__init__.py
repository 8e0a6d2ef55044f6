"""Benchmarks of the services against the engine they wrap (``python -m bench``)."""
