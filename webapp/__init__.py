"""The browser app: a small server for the PyScript page, its Python and its runtime."""
