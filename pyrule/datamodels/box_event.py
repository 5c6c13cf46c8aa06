"""Box enterprise events (trailhound's built-in data model)."""


def event_type(event):
    # Box's enterprise event types LOGIN (a user signed in) and
    # FAILED_LOGIN (a sign-in failed).
    return {"LOGIN": "successful_login", "FAILED_LOGIN": "failed_login"}.get(event.get("event_type")) if isinstance(event.get("event_type"), str) else None
