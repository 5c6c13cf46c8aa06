def rule(event):
    if event.deep_get("requestParameters", "spin"):
        while True:
            pass
    return event.get("eventName") == "Good"
