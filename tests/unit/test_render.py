"""The page's Markdown rendering, run under CPython (the browser runs the same file)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

from webapp.page import markdown as render
from webapp.page.highlight import LANGUAGES
from webapp.page.markdown import StreamingMarkdown, render_markdown
from webapp.server import page_zip

HOSTILE = [
    '<img src="http://images.invalid/x.png" onerror="alert(1)">',
    "<script>alert(1)</script>",
    '<iframe src="http://evil.invalid"></iframe>',
    "<a href='javascript:alert(1)'>x</a>",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_raw_html_is_escaped(hostile: str):
    html = render_markdown(f"before {hostile} after")
    assert "<" + hostile[1:] not in html
    assert "&lt;" in html


def test_markdown_images_and_script_links_produce_no_element():
    html = render_markdown("![x](http://images.invalid/y.png) [click](javascript:alert(1))")
    assert "<img" not in html
    assert 'href="javascript' not in html


def code_tag(label: str) -> str:
    """How a code block's <code> opens: reachable by the keyboard (it scrolls), and named."""
    return f'<code tabindex="0" role="group" aria-label="{label}"'


def test_code_blocks_lists_and_safe_links_render():
    html = render_markdown("```\nprint('<b>')\n```\n\n- one\n- two\n\n[docs](http://localhost/x)")
    assert f"<pre>{render.COPY_CODE_BUTTON}{code_tag('Code')}>print('&lt;b&gt;')" in html
    assert "<li>one</li>" in html
    assert 'href="http://localhost/x" target="_blank" rel="noopener noreferrer nofollow"' in html


# --------------------------------------------------------------------------- highlighting


def test_a_python_block_gets_token_spans_and_a_copy_button():
    html = render_markdown("```python\n\ndef f(x):\n    return x  # done\n```")
    assert html.startswith(f'<pre>{render.COPY_CODE_BUTTON}{code_tag("python code")} class="language-python">\n<span')
    assert '<span class="hl-k">def</span>' in html
    assert '<span class="hl-nf">f</span>' in html
    assert '<span class="hl-c1"># done</span>' in html


@pytest.mark.parametrize("lang", ["python", "html", "js", "bash", "", "no-such-language"])
@pytest.mark.parametrize("hostile", HOSTILE + ["</code></pre><script>alert(1)</script>", '&lt;b&gt; & "quotes"'])
def test_hostile_code_in_a_fenced_block_stays_text(lang: str, hostile: str):
    html = render_markdown(f"```{lang}\nx = '{hostile}'\n{hostile}\n```\n")
    assert html.count("<pre>") == 1 and html.count("</code></pre>") == 1
    for tag in ("<img", "<script", "<iframe", "<a "):
        assert tag not in html
    # The text the reader sees (markup removed, entities decoded) is the code as written.
    text = re.sub(r"<[^>]+>", "", html.removeprefix(f"<pre>{render.COPY_CODE_BUTTON}"))
    assert unescape(text) == f"x = '{hostile}'\n{hostile}\n\n"


@pytest.mark.parametrize(
    ("info", "label"),
    [("python", "python code"), ("c++ {.x}", "c++ code"), ("", "Code"), ('"><b onclick=x>', "Code")],
)
def test_a_code_block_is_named_by_its_language_and_never_by_markup(info: str, label: str):
    html = render_markdown(f"```{info}\nx = 1\n```")
    assert html.count("<code ") == 1 and code_tag(label) in html
    assert re.search(r"<b[\s>]", html) is None  # the info string stays text


@pytest.mark.parametrize("info", ["", "no-such-language", "PYTHON attrs", "text"])
def test_unknown_languages_are_escaped_not_guessed(info: str):
    html = render_markdown(f"```{info}\nprint('<b>')\n```")
    lang = info.split(" ")[0]
    if lang.lower() == "python":
        assert '<span class="hl-nb">print</span>' in html
    else:
        assert "<span" not in html and "print('&lt;b&gt;')" in html


def test_every_language_is_coloured_by_the_pygments_the_page_is_served(tmp_path: Path):
    # The web app ships only part of Pygments: this Python sees nothing but the stdlib and
    # the page's zip (its modules, shared/ and the vendored packages), as Pyodide does.
    served = tmp_path / "page.zip"
    served.write_bytes(page_zip())
    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]\n"
        "import pygments\n"
        "from webapp.page import markdown as render\n"
        "from webapp.page.highlight import LANGUAGES\n"
        "assert pygments.__file__.startswith(sys.argv[1]), pygments.__file__\n"
        "for lang in sorted(LANGUAGES):\n"
        "    html = render.render_markdown(f'```{lang}\\nif (a < b) {{ x = \"s\" }}  # c\\n+ 1\\n```')\n"
        "    assert '<span class=\"hl-' in html, (lang, html)\n"
        "print(len(LANGUAGES))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", script, str(served)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(LANGUAGES)


# --------------------------------------------------------------------------- streaming

DOCUMENTS = {
    "paragraphs and headings": "Intro *text* with `code`.\n\n# Title\n\nA paragraph\nover two lines.\n\n"
    "Setext heading\n==============\n\nAnother one\n---\n\n## Closing #\nlast words",
    "fenced code": "Look:\n\n```python\ndef f():\n\n    return '<b>'\n```\nafter the fence\n\n"
    "~~~\nnever closed\n# not a heading",
    "nested lists": "- one\n- two\n  - two a\n  - two b\n\n    still two b\n- three\n\n"
    "1. first\n2. second\n   1) inner\n\ntext after\n* star\n+ plus\n",
    "table": "Numbers:\n| a | b |\n|---|:-:|\n| 1 | 2 |\n| 3 | 4 |\n\n~~gone~~ and a [link](http://localhost/x)\n",
    "quotes and rules": "> quoted\nlazy line\n> > deeper\n\n---\n***\n    indented code\n\n    more code\npara\n",
    "hostile html": "Here: " + " ".join(HOSTILE) + "\n\n<script>\nalert(1)\n</script>\n\n"
    "![img](http://images.invalid/y.png) [x](javascript:alert(1))\n\n<div onclick=alert(1)>\n",
    "highlighted code": "```python\n@cache\ndef f(x: int) -> str:\n\n    return f'<b>{x}</b>'  # done\n```\n"
    "```js\nconst a = `<img src=x onerror=alert(1)>`;\n```\n```html\n<script>alert(1)</script>\n```\n"
    "```diff\n- old\n+ new\n```\n\n    indented <b>code</b>\n",
    "line ends": "windows\r\nlines\r\n\r\n# head\r\nold mac\rline\r\rnext\n\n\n\ntab\tbed\n\ttabbed code\n",
}


def stream(text: str, ends: list[int]) -> list[tuple[str, str]]:
    """What StreamingMarkdown hands out when ``text`` arrives cut at ``ends``."""
    markdown = StreamingMarkdown()
    return [markdown.update(text[:end]) for end in ends]


def cuts(text: str, seed: int) -> list[int]:
    """Every character, or random chunks of 1 to 12 characters."""
    if seed == 0:
        return list(range(1, len(text) + 1))
    rng, ends = random.Random(seed), [0]
    while ends[-1] < len(text):
        ends.append(min(len(text), ends[-1] + rng.randint(1, 12)))
    return ends[1:]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("name", DOCUMENTS)
def test_streamed_pieces_always_equal_a_full_render(name: str, seed: int):
    text = DOCUMENTS[name]
    ends = cuts(text, seed)
    settled = ""
    for end, (new, tail) in zip(ends, stream(text, ends), strict=True):
        settled += new
        assert settled + tail == render_markdown(text[:end]), f"after {text[:end]!r}"


def test_a_block_settles_only_when_no_later_text_can_change_it():
    markdown = StreamingMarkdown()
    # "#" alone is an empty heading, but the line may still become "#x", a paragraph line.
    assert markdown.update("para\n\nnext\n#") == ("", "<p>para</p>\n<p>next</p>\n<h1></h1>\n")
    # A table needs its delimiter row, and this one is still incomplete: "|-|-|x" is none.
    assert markdown.update("para\n\nnext\na|b\n|-|-|")[0] == "<p>para</p>\n"
    assert markdown.update("para\n\nnext\na|b\n|-|-|x") == ("", "<p>next\na|b\n|-|-|x</p>\n")


def test_an_open_code_fence_stays_in_the_tail_until_it_closes():
    markdown = StreamingMarkdown()
    text = "Code:\n\n```\n" + "".join(f"line {i}\n\n# {i}\n" for i in range(5))
    assert markdown.update(text) == ("<p>Code:</p>\n", render_markdown(text[7:]))
    assert markdown.update(text + "```\n\nafter\n\n")[0] == render_markdown(text[7:] + "```")


def test_links_to_references_elsewhere_wait_for_the_full_render():
    text = "See [the docs].\n\nMore.\n\n[the docs]: http://localhost/docs\n\nEnd.\n\n"
    pieces = stream(text, list(range(1, len(text) + 1)))
    streamed = "".join(new for new, _ in pieces) + pieces[-1][1]
    assert "<p>See [the docs].</p>" in streamed  # its piece was settled before the definition came
    assert '<a href="http://localhost/docs"' in render_markdown(text)  # the view's final render


@pytest.mark.parametrize("name", DOCUMENTS)
def test_streamed_pieces_keep_model_html_as_text(name: str):
    text = DOCUMENTS[name]
    for new, tail in stream(text, cuts(text, 5)):
        for html in (new, tail):
            assert not any(tag in html for tag in ("<img", "<script", "<iframe", "<div", "<a href='javascript"))
            assert 'href="javascript' not in html
            assert html.count("<a ") == html.count('target="_blank" rel="noopener noreferrer nofollow"')


def test_streaming_parses_a_constant_amount_per_update(monkeypatch):
    # The old page rendered the whole answer on every update: for this answer in 4-character
    # pieces, ~3,500 characters parsed per character of answer, 96 million in all.
    parsed: list[int] = []
    parse = render._markdown.parse

    def counting_parse(src, env=None):  # type: ignore[no-untyped-def]
        parsed.append(len(src))
        return parse(src, env)

    monkeypatch.setattr(render._markdown, "parse", counting_parse)
    paragraph = "Paragraph {}: the model goes on *about* things, with `code` and [a link](http://localhost/{})."
    text = "\n\n".join(paragraph.format(i, i) for i in range(300)) + "\n"
    ends = list(range(4, len(text), 4)) + [len(text)]
    pieces = stream(text, ends)
    assert "".join(new for new, _ in pieces) + pieces[-1][1] == render_markdown(text)
    longest = max(len(line) for line in text.splitlines())
    # Each update parses at most the last two paragraphs and one piece; then the full render.
    assert max(parsed[:-1]) <= 2 * (longest + 2) + 4
    assert sum(parsed[:-1]) < 50 * len(text)  # measured: ~35 per character
