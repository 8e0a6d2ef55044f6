"""The HTTP layer: Flask blueprints and what only HTTP needs.

Errors, security, paging, SSE streaming, the status socket, metrics, the OpenAPI document.
"""
