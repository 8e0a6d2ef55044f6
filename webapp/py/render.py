"""Model output to HTML, safely: Markdown with raw HTML escaped and no remote resources.

Model output is untrusted input. markdown-it-py with ``html=False`` escapes every tag
the model writes (``<script>``, ``<img onerror=…>`` become text), image syntax is
turned off (an image would make the browser fetch a URL), and links open in a new tab
without a referrer. The page's Content-Security-Policy is the second wall.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable(["table", "strikethrough"])
_markdown.disable(["image"])


def _link_open(renderer, tokens, index, options, env):  # type: ignore[no-untyped-def]
    tokens[index].attrSet("target", "_blank")
    tokens[index].attrSet("rel", "noopener noreferrer nofollow")
    return renderer.renderToken(tokens, index, options, env)


_markdown.add_render_rule("link_open", _link_open)


def render_markdown(text: str) -> str:
    """HTML for ``text``; contains no element the model wrote itself."""
    return _markdown.render(text)
