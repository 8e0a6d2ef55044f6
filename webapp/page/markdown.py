"""Model output to HTML, safely: Markdown with raw HTML escaped and no remote resources.

Model output is untrusted input. markdown-it-py with ``html=False`` escapes every tag
the model writes (``<script>``, ``<img onerror=…>`` become text), image syntax is
turned off (an image would make the browser fetch a URL), and links open in a new tab
without a referrer. The page's Content-Security-Policy is the second wall.

Fenced code in a language ``highlight`` knows is coloured by Pygments, which escapes it
too; every code block gets a copy button (the page handles its clicks).

While an answer streams in, ``StreamingMarkdown`` renders it piece by piece with the
same parser, so each update costs about the same however long the answer has grown.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt

from webapp.page.highlight import highlight_code

_markdown = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "typographer": False, "highlight": highlight_code}
)
_markdown.enable(["table", "strikethrough"])
_markdown.disable(["image"])


def _link_open(renderer, tokens, index, options, env):  # type: ignore[no-untyped-def]
    tokens[index].attrSet("target", "_blank")
    tokens[index].attrSet("rel", "noopener noreferrer nofollow")
    return renderer.renderToken(tokens, index, options, env)


_markdown.add_render_rule("link_open", _link_open)

COPY_CODE_BUTTON = (
    '<button type="button" class="copy" data-testid="copy" data-copy="code" title="Copy code">Copy</button>'
)
"""Put at the start of every <pre>: our markup, never the model's."""


_LANGUAGE_NAME = re.compile(r"[\w+#.-]{1,30}")


def code_label(info: str) -> str:
    """The accessible name of a code block: "python code", or "Code" (our text, never
    markup: a fence's info string that is not a plain language name is left out)."""
    words = info.split()
    return f"{words[0]} code" if words and _LANGUAGE_NAME.fullmatch(words[0]) else "Code"


def _code_block(renderer, tokens, index, options, env):  # type: ignore[no-untyped-def]
    # The default rules (methods of the renderer) write "<pre><code...": add the button,
    # and let the keyboard reach the <code>, which scrolls sideways on long lines (axe's
    # scrollable-region-focusable). A focusable element needs a name, which the code role
    # may not have: it is named as a group.
    html = getattr(renderer, tokens[index].type)(tokens, index, options, env)
    label = code_label(tokens[index].info if tokens[index].type == "fence" else "")
    code = f'<code tabindex="0" role="group" aria-label="{label}"'
    return html.replace("<pre><code", "<pre>" + COPY_CODE_BUTTON + code, 1)


_markdown.add_render_rule("fence", _code_block)
_markdown.add_render_rule("code_block", _code_block)


def render_markdown(text: str) -> str:
    """HTML for ``text``; contains no element the model wrote itself."""
    return _markdown.render(text)


_NEWLINE = re.compile(r"\r\n?|\n")  # the line ends markdown-it itself knows


class StreamingMarkdown:
    """Renders a growing Markdown text, parsing only the part that can still change.

    The text is a run of top-level blocks (paragraphs, headings, lists, code blocks...).
    A block is *settled* once the parser has moved past it for good: its HTML is handed
    out once and its text is never parsed again. The rest, the *tail* (the last block or
    two), is parsed and rendered anew on every update, so an update costs the size of
    the tail, not of the whole answer. A list or an open code block stays in the tail
    until a block after it starts.

    The pieces put together equal one full render, with one known difference: a
    reference-style link (``[x]`` with ``[x]: url`` in another piece) is shown as text.
    Render the complete text once with ``render_markdown`` when the answer has ended.
    """

    def __init__(self) -> None:
        self._start = 0
        """Where the unsettled part begins in the text."""

    def update(self, text: str) -> tuple[str, str]:
        """HTML of the blocks settled since the last call, and HTML of the tail.

        ``text`` is the whole answer so far; each call's text extends the previous one.
        """
        unsettled = text[self._start :]
        env: dict[str, Any] = {}
        tokens = _markdown.parse(unsettled, env)
        line_starts = [0, *(match.end() for match in _NEWLINE.finditer(unsettled))]
        complete_lines = len(line_starts) - 1  # the last line may still grow
        # A block is over once the next one has started, but whether a line starts a block
        # may depend on that line and the one after it ("#" may become "#x", a table needs
        # its delimiter row): so both must be complete. Never the last block: it may grow.
        split = split_line = 0
        for index, token in enumerate(tokens):
            if token.level == 0 and token.nesting >= 0 and token.map and token.map[0] + 1 < complete_lines:
                split, split_line = index, token.map[0]
        self._start += line_starts[split_line] if split else 0
        html = _markdown.renderer.render
        return html(tokens[:split], _markdown.options, env), html(tokens[split:], _markdown.options, env)
