"""Helpers for trailhound's own test rules."""


def succeeded(event):
    return not event.get("errorCode") and not event.get("errorMessage")


def context(event):
    return {"source": event.get("eventSource"), "who": event.udm("actor"), "ip": event.get("sourceIPAddress")}
