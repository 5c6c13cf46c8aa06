"""Okta System Log events (trailhound's built-in data model)."""


def event_type(event):
    # Okta logs a sign-in to Okta as eventType user.session.start; its
    # outcome.result says whether it succeeded (SUCCESS) or not (FAILURE).
    if event.get("eventType") != "user.session.start":
        return None
    result = (event.get("outcome") or {}).get("result")
    if result == "SUCCESS":
        return "successful_login"
    if result == "FAILURE":
        return "failed_login"
    return None
