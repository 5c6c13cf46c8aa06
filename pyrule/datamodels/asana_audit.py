"""Asana audit log events (trailhound's built-in data model)."""


def event_type(event):
    # Asana's audit log names sign-ins user_login_succeeded and
    # user_login_failed (event_category "logins").
    kind = event.get("event_type")
    if not isinstance(kind, str):
        return None
    return {"user_login_succeeded": "successful_login", "user_login_failed": "failed_login"}.get(kind)
