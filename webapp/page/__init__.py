"""The page's Python: RusChat in the browser, running in Pyodide.

Data flows one way: an event (a click, a key, a streamed chunk, a status push) reaches an
``actions`` handler, which changes the ``state`` (dataclasses that know nothing of the DOM),
talks to the services only through ``api``, and redraws the affected region with its
``views`` module. ``main.py`` is the page's script: it builds these and wires the fixed
controls. The web app ships this package in ``/py/page.zip`` (``webapp.server.page_zip``),
found by walking this folder.
"""
