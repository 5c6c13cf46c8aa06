def rule(event):
    return event.get("eventName") == "ConsoleLogin" and event.deep_get("responseElements", "ConsoleLogin") == "Failure"


def title(event):
    return f"failed logins of {event.deep_get('userIdentity', 'userName')}"


def unique(event):
    return event.get("sourceIPAddress")


def runbook(event):
    return f"Ask {event.deep_get('userIdentity', 'userName')} whether these were their attempts."


def reference(event):
    return "https://example.com/spray"


def description(event):
    return f"{event.deep_get('userIdentity', 'userName')} failed to sign in from several addresses."


def destinations(event):
    return ["security-slack", "pagerduty"]
