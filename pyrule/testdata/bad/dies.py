import os


def rule(event):
    if event.deep_get("requestParameters", "die"):
        os._exit(7)
    return event.get("eventName") == "Never"
