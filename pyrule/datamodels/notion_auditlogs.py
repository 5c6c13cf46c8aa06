"""Notion audit log events (trailhound's built-in data model)."""


def event_type(event):
    # Notion's audit log records a sign-in as event.type user.login.
    if (event.get("event") or {}).get("type") == "user.login":
        return "successful_login"
    return None
