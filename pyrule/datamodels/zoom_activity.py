"""Zoom's sign-in / sign-out activity report (trailhound's built-in data
model)."""


def event_type(event):
    # an activity's type is "Sign in" or "Sign out"
    if event.get("type") == "Sign in":
        return "successful_login"
    return None
