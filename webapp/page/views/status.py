"""The toolbar: the model dropdown, a status badge per service, the activity line."""

from __future__ import annotations

from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.state.service import Service

CPU_REASONS = {"sharing": "sharing the CPU", "foreign_load": "other programs busy"}
"""Why a busy service runs fewer threads than it may (ServiceInfo.threads_reason)."""


def render_services(dom: Dom, state: AppState) -> None:
    """Update the dropdown and the status badges in place (an open dropdown stays open)."""
    select = dom.by_testid("model-select")
    status = dom.by_testid("service-status")
    if not select.options.length:
        for service in state.services.values():
            select.appendChild(dom.element("option", service.label, value=service.id))
            status.appendChild(dom.element("span", service.label, "svc", data_service=service.id))
        select.value = state.selected
    for service in state.services.values():
        option = select.querySelector(f'option[value="{service.id}"]')
        name = f"{service.label}: {service.model}" if service.info else service.label
        option.textContent = name + ("" if service.online else " (offline)")
        option.setAttribute("data-state", service.state)
        badge = status.querySelector(f'[data-service="{service.id}"]')
        badge.textContent = badge_text(service)
        badge.setAttribute("data-state", service.state)
        badge.title = (service.info.degraded if service.info else None) or ""


def badge_text(service: Service) -> str:
    text = f"{service.label} {service.state}"
    if service.info and service.state == "busy":
        text += f" · {service.info.tokens_per_second:g} tok/s"
        if service.info.queue_depth:
            text += f" · {service.info.queue_depth} waiting"
        if why := CPU_REASONS.get(service.info.threads_reason):
            text += f" · {why} ({service.info.threads} of {service.info.max_threads} threads)"
    return text


def set_activity(dom: Dom, text: str) -> None:
    dom.by_testid("activity").textContent = text
