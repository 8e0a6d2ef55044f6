"""Running a model.

The engine protocol, llama.cpp in process, a remote upstream, sampling, KV caches, model
files.
"""
