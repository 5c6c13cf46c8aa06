"""Notion audit log events (trailhound's built-in data model)."""


def event_type(event):
    # Notion's audit log records a sign-in as event.type user.login.
    if _get(event, "event", "type") == "user.login":
        return "successful_login"
    return None


def _get(obj, *keys):
    # obj[k1][k2]..., None where a level is missing or not an object (an
    # event with a field of another type than documented is not a match)
    for k in keys:
        obj = obj.get(k) if hasattr(obj, "get") else None
    return obj
