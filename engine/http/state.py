"""The Service hung off the Flask app object, for the request handlers."""

from __future__ import annotations

from flask import Flask, current_app

from engine.service import Service


def attach(app: Flask, service: Service) -> None:
    app.extensions["ruschat"] = service


def current() -> Service:
    service: Service = current_app.extensions["ruschat"]
    return service
