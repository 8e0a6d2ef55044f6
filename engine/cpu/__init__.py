"""Sharing the machine's cores between services: the budget and the load meter."""
