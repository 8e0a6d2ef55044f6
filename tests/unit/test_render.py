"""The page's Markdown rendering, run under CPython (the browser runs the same file)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "webapp" / "py"))

from render import render_markdown  # noqa: E402


@pytest.mark.parametrize(
    "hostile",
    [
        '<img src="http://images.invalid/x.png" onerror="alert(1)">',
        "<script>alert(1)</script>",
        '<iframe src="http://evil.invalid"></iframe>',
        "<a href='javascript:alert(1)'>x</a>",
    ],
)
def test_raw_html_is_escaped(hostile: str):
    html = render_markdown(f"before {hostile} after")
    assert "<" + hostile[1:] not in html
    assert "&lt;" in html


def test_markdown_images_and_script_links_produce_no_element():
    html = render_markdown("![x](http://images.invalid/y.png) [click](javascript:alert(1))")
    assert "<img" not in html
    assert 'href="javascript' not in html


def test_code_blocks_lists_and_safe_links_render():
    html = render_markdown("```python\nprint('<b>')\n```\n\n- one\n- two\n\n[docs](http://localhost/x)")
    assert "<pre><code class=\"language-python\">print('&lt;b&gt;')" in html
    assert "<li>one</li>" in html
    assert 'href="http://localhost/x" target="_blank" rel="noopener noreferrer nofollow"' in html
