import os


def rule(event):
    return event.get("eventName") == "LateDie"


def alert_context(event):
    # runs only for the match that raises the alert, and kills the worker
    os._exit(9)
