"""Highlighted code is readable: every Pygments token colour the page ships meets WCAG AA
(4.5:1) on the code background, in the light and the dark theme.

The colours are read from the stylesheets the page serves (``static/style.css`` for the code
block, ``static/highlight.css`` for the tokens), so a colour changed there is checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pygments.token import STANDARD_TYPES

from webapp.page.highlight import CLASS_PREFIX

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"

STATIC = WEBAPP / "static"
AA = 4.5
THEMES = ("light", "dark")

Colours = tuple[str, str]
"""(light, dark) as #rrggbb."""


def theme_colours(value: str, variables: dict[str, Colours]) -> Colours:
    """A CSS colour value as the two themes see it: ``light-dark(#a, #b)``, ``#a`` or ``var(--x)``."""
    value = value.strip()
    if match := re.fullmatch(r"light-dark\(\s*(#[0-9a-fA-F]{6})\s*,\s*(#[0-9a-fA-F]{6})\s*\)", value):
        return match[1].lower(), match[2].lower()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value.lower(), value.lower()
    if match := re.fullmatch(r"var\((--[\w-]+)\)", value):
        return variables[match[1]]
    raise AssertionError(f"a colour this test cannot read: {value!r} (use light-dark(#rrggbb, #rrggbb))")


def rules(css: str) -> list[tuple[list[str], dict[str, str]]]:
    """(selectors, declarations) of each rule of a flat stylesheet (no @-blocks)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = dict(
            (name.strip(), value.strip())
            for name, _, value in (d.partition(":") for d in body.split(";"))
            if value.strip()
        )
        found.append(([s.strip() for s in selectors.split(",")], declarations))
    return found


def code_block() -> tuple[Colours, Colours]:
    """The code block's (text, background) colours, from style.css."""
    style = (STATIC / "style.css").read_text()
    variables: dict[str, Colours] = {}
    for name, value in re.findall(r"(--[\w-]+):\s*(light-dark\([^)]*\)|#[0-9a-fA-F]{6})", style):
        variables[name] = theme_colours(value, variables)
    pre = [d for selectors, d in rules(style) if ".message pre" in selectors and "background" in d]
    assert pre, "style.css gives code blocks (.message pre) a background"
    return theme_colours(pre[-1]["color"], variables), theme_colours(pre[-1]["background"], variables)


def token_colours() -> dict[str, tuple[Colours | None, Colours | None]]:
    """Each token class highlight.css styles: its (colour, background), None where not set."""
    styled: dict[str, tuple[Colours | None, Colours | None]] = {}
    for selectors, declarations in rules((STATIC / "highlight.css").read_text()):
        for selector in selectors:
            assert re.fullmatch(rf"\.{CLASS_PREFIX}[\w-]+", selector), f"not a single token class: {selector}"
            colour, background = styled.get(selector[1:], (None, None))
            if "color" in declarations:
                colour = theme_colours(declarations["color"], {})
            if "background" in declarations:
                background = theme_colours(declarations["background"], {})
            styled[selector[1:]] = (colour, background)
    return styled


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_matches_wcag():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the well-known near miss


def test_the_stylesheet_styles_only_classes_pygments_emits():
    # A span of a token type Pygments has no short name for also carries its nearest standard
    # ancestor's class (HtmlFormatter), so styling the standard classes colours every token.
    standard = {CLASS_PREFIX + name for name in STANDARD_TYPES.values() if name}
    assert set(token_colours()) <= standard


@pytest.mark.parametrize("theme", THEMES)
def test_every_token_colour_meets_aa_on_the_code_background(theme: str):
    which = THEMES.index(theme)
    ink, background = code_block()
    assert contrast(ink[which], background[which]) >= AA, "the code's own text colour"
    styled = token_colours()
    failing = []
    for name in sorted({name for name in STANDARD_TYPES.values() if name}):
        colour, own_background = styled.get(CLASS_PREFIX + name, (None, None))
        fg, bg = (colour or ink)[which], (own_background or background)[which]
        if (ratio := contrast(fg, bg)) < AA:
            failing.append(f"{CLASS_PREFIX}{name}: {fg} on {bg} is {ratio:.2f}:1")
    assert not failing, f"{theme} theme: " + "; ".join(failing)


def test_messages_outside_the_window_are_marked_without_fading_their_text():
    """Opacity would blend the text into the background, below AA (axe cannot always tell:
    it reports faded text as 'needs review', not as a violation)."""
    css = (STATIC / "style.css").read_text()
    rules = re.findall(r"\.message\.outside-window[^{]*\{([^}]*)\}", css)
    assert rules and not any("opacity" in rule or "filter" in rule for rule in rules)
    style = (STATIC / "style.css").read_text()
    variables: dict[str, Colours] = {}
    for name, value in re.findall(r"(--[\w-]+):\s*(light-dark\([^)]*\)|#[0-9a-fA-F]{6})", style):
        variables[name] = theme_colours(value, variables)
    muted = variables["--muted"]
    for background in ("--bg", "--panel", "--user"):  # the page, an answer, a question
        for theme in range(2):
            ratio = contrast(muted[theme], variables[background][theme])
            assert ratio >= AA, f"--muted on {background} ({THEMES[theme]}): {ratio:.2f}"
