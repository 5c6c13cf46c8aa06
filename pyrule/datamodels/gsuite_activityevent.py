"""Google Workspace (G Suite) Reports API activity events (trailhound's
built-in data model)."""


def event_type(event):
    # The Login audit application (id.applicationName "login") names a
    # successful sign-in login_success and a failed one login_failure.
    if (event.get("id") or {}).get("applicationName") != "login":
        return None
    return {"login_success": "successful_login", "login_failure": "failed_login"}.get(event.get("name"))
