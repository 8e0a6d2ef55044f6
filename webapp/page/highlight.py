"""Code in answers, coloured: Pygments turns a fenced block's code into spans with CSS classes.

Only the languages named in ``LANGUAGES`` are coloured, the same under CPython and in the
page: the web app ships just their lexers (``webapp.server.VENDORED_ONLY``), a test
proves that list suffices, and an unknown language is never guessed (guessing loads
every lexer). Pygments escapes the code it writes, so model output stays text.

Pygments is imported on the first coloured block, not when the page starts.
"""

from __future__ import annotations

from functools import cache
from typing import Any

LANGUAGES = frozenset(
    {
        *("python", "py", "python3", "py3", "pycon", "javascript", "js", "jsx", "typescript", "ts", "tsx"),
        *("json", "yaml", "yml", "toml", "ini", "cfg", "xml", "html", "css", "scss", "sql"),
        *("bash", "sh", "shell", "zsh", "console", "shell-session", "powershell", "ps1"),
        *("c", "cpp", "c++", "csharp", "c#", "cs", "java", "kotlin", "scala", "go", "golang"),
        *("rust", "rs", "ruby", "rb", "diff", "udiff", "docker", "dockerfile", "make", "makefile", "cmake"),
    }
)
"""The fence names (```python) that get colours; the names are Pygments' lexer aliases."""

CLASS_PREFIX = "hl-"
"""Token classes become ``hl-k``, ``hl-s2``...: the stylesheet colours them, and they cannot
clash with the page's own classes."""


def highlight_code(code: str, lang: str, _attrs: str = "") -> str:
    """HTML of ``code`` coloured as ``lang``; "" for a language we do not colour.

    Fits markdown-it's ``highlight`` option: for "" it escapes the code itself.
    """
    lang = lang.lower()
    if lang not in LANGUAGES or not code:
        return ""
    from pygments import highlight

    return highlight(code, _lexer(lang), _formatter())


@cache
def _lexer(lang: str) -> Any:
    from pygments.lexers import get_lexer_by_name

    # Pygments would strip the code's leading blank lines: keep the code as written.
    return get_lexer_by_name(lang, stripnl=False)


@cache
def _formatter() -> Any:
    from pygments.formatters.html import HtmlFormatter

    # nowrap: markdown-it writes the <pre><code> around it; classes, not inline styles.
    return HtmlFormatter(nowrap=True, classprefix=CLASS_PREFIX)
