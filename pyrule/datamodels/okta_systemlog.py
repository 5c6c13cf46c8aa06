"""Okta System Log events (trailhound's built-in data model)."""


def event_type(event):
    # Okta logs a sign-in to Okta as eventType user.session.start; its
    # outcome.result says whether it succeeded (SUCCESS) or not (FAILURE).
    if event.get("eventType") != "user.session.start":
        return None
    result = _get(event, "outcome", "result")
    if result == "SUCCESS":
        return "successful_login"
    if result == "FAILURE":
        return "failed_login"
    return None


def _get(obj, *keys):
    # obj[k1][k2]..., None where a level is missing or not an object (an
    # event with a field of another type than documented is not a match)
    for k in keys:
        obj = obj.get(k) if hasattr(obj, "get") else None
    return obj
