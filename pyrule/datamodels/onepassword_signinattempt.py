"""1Password Events API sign-in attempts (trailhound's built-in data
model)."""


def event_type(event):
    # The attempt's category: success, or why it failed; credentials_failed
    # (a wrong password or Secret Key) and mfa_failed (the second factor)
    # are failed sign-ins. Other failures (a firewall rule, an outdated
    # app) are not the user failing to authenticate.
    category = event.get("category")
    if category == "success":
        return "successful_login"
    if category in ("credentials_failed", "mfa_failed"):
        return "failed_login"
    return None
