"""The settings panel: a modal dialog with the open chat's system prompt, sampling, seed and stops.

The dialog is the browser's own ``<dialog>``: it keeps the keyboard inside while open
and closes on Escape. This module builds its form once, fills it from a ChatSettings
and reads it back as text; what the values mean is ``state.settings``'s business.
"""

from __future__ import annotations

from typing import Any, Protocol

from shared.schemas import MAX_STOPS, ChatSettings
from webapp.page.dom import Dom
from webapp.page.state.settings import CONTEXT_CHOICES, FIELDS, form_values


class PanelActions(Protocol):
    """What the panel's controls ask for."""

    async def save_settings(self, event: Any) -> None: ...

    def close_settings(self, event: Any) -> None: ...


def _labelled(dom: Dom, text: str, control: Any) -> Any:
    label = dom.element("label", None, "field")
    label.appendChild(dom.element("span", text))
    label.appendChild(control)
    return label


def build_panel(dom: Dom, actions: PanelActions) -> None:
    """The dialog's form, with a label on every field; the Settings button is enabled."""
    dialog = dom.by_testid("settings-dialog")
    form = dom.element("form", None, "settings-form", novalidate="")
    form.appendChild(dom.element("h2", "Chat settings", id="settings-title"))
    system = dom.element("textarea", None, None, name="system", rows="4", data_testid="system-prompt")
    system.setAttribute("placeholder", "e.g. You are a concise assistant.")
    form.appendChild(_labelled(dom, "System prompt", system))
    numbers = dom.element("div", None, "numbers")
    for spec in FIELDS:
        number = dom.element(
            "input",
            None,
            None,
            type="number",
            name=spec.name,
            min=f"{spec.low:g}",
            max=f"{spec.high:g}",
            step=f"{spec.step:g}",
            required="",
            data_testid=spec.testid,
        )
        numbers.appendChild(_labelled(dom, f"{spec.label} ({spec.low:g}–{spec.high:g})", number))
    # Text, not a number field: a browser reads what it cannot parse there as empty (random).
    seed = dom.element("input", None, None, type="text", inputmode="numeric", name="seed", data_testid="seed")
    seed.setAttribute("placeholder", "random")
    numbers.appendChild(_labelled(dom, "Seed (the same seed, the same answer)", seed))
    form.appendChild(numbers)
    stop = dom.element("textarea", None, None, name="stop", rows="2", data_testid="stop-sequences")
    stop.setAttribute("placeholder", "one per line; \\n for a line break, e.g. \\n\\nUser:")
    form.appendChild(_labelled(dom, f"Stop sequences (the answer ends before one; up to {MAX_STOPS})", stop))
    policy = dom.element("select", None, None, name="context", data_testid="context-policy")
    for value, text in CONTEXT_CHOICES:
        policy.appendChild(dom.element("option", text, value=value))
    form.appendChild(_labelled(dom, "When the chat outgrows the model's context", policy))
    default = dom.element("input", None, None, type="checkbox", name="default", data_testid="settings-save-default")
    check = dom.element("label", None, "check")
    check.appendChild(default)
    check.appendChild(dom.element("span", "Save as default for new chats"))
    form.appendChild(check)
    form.appendChild(dom.element("p", None, "settings-error", role="alert", hidden="", data_testid="settings-error"))
    buttons = dom.element("div", None, "buttons")
    cancel = dom.element("button", "Cancel", None, type="button", data_testid="settings-cancel")
    buttons.appendChild(cancel)
    buttons.appendChild(dom.element("button", "Save", "save", type="submit", data_testid="settings-save"))
    form.appendChild(buttons)
    dialog.appendChild(form)
    dom.on(form, "submit", actions.save_settings)
    dom.on(cancel, "click", actions.close_settings)
    dom.by_testid("settings").disabled = False


def _form(dom: Dom) -> Any:
    return dom.by_testid("settings-dialog").querySelector("form")


def open_panel(dom: Dom, settings: ChatSettings) -> None:
    """Show the dialog with ``settings`` in its fields (edits not saved last time are gone).

    Closing it (Save, Cancel, Escape) gives the focus back to where it was."""
    form = _form(dom)
    for name, value in form_values(settings).items():
        form.elements.namedItem(name).value = value
    form.elements.namedItem("default").checked = False
    show_error(dom, None)
    dom.by_testid("settings-dialog").showModal()
    dom.by_testid("system-prompt").focus()


def read_form(dom: Dom) -> dict[str, str]:
    """The fields' text, by name."""
    form = _form(dom)
    names = ("system", "context", "stop", "seed", *(f.name for f in FIELDS))
    return {name: str(form.elements.namedItem(name).value) for name in names}


def save_as_default(dom: Dom) -> bool:
    return bool(_form(dom).elements.namedItem("default").checked)


def show_error(dom: Dom, message: str | None) -> None:
    box = dom.by_testid("settings-error")
    box.textContent = message or ""
    box.hidden = not message


def close_panel(dom: Dom) -> None:
    dom.by_testid("settings-dialog").close()
