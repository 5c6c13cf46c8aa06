"""Google Workspace (G Suite) Reports API activity events (trailhound's
built-in data model)."""


def event_type(event):
    # The Login audit application (id.applicationName "login") names a
    # successful sign-in login_success and a failed one login_failure.
    if _get(event, "id", "applicationName") != "login" or not isinstance(event.get("name"), str):
        return None
    return {"login_success": "successful_login", "login_failure": "failed_login"}.get(event.get("name"))


def _get(obj, *keys):
    # obj[k1][k2]..., None where a level is missing or not an object (an
    # event with a field of another type than documented is not a match)
    for k in keys:
        obj = obj.get(k) if hasattr(obj, "get") else None
    return obj
