"""What the page knows, as plain dataclasses: no DOM and no ``js``, importable and tested
under CPython. The actions change it; the views draw from it."""
