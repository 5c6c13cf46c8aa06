"""Microsoft Entra ID (Azure AD) sign-in logs as Azure Monitor exports
them (trailhound's built-in data model)."""

# the categories of Entra ID's sign-in logs: users' interactive and
# non-interactive sign-ins, service principals', managed identities'
_SIGN_INS = {"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs"}


def event_type(event):
    # a sign-in's properties.status.errorCode is 0 when it succeeded
    category = event.get("category")
    if not isinstance(category, str) or category not in _SIGN_INS:
        return None
    code = _get(event, "properties", "status", "errorCode")
    if code is None:
        return None
    return "successful_login" if str(code) == "0" else "failed_login"


def actor_user(event):
    # who signed in: a user's principal name, else the service principal's
    for key in ("userPrincipalName", "servicePrincipalName"):
        name = _get(event, "properties", key)
        if isinstance(name, str) and name:
            return name
    return None


def _get(obj, *keys):
    # obj[k1][k2]..., None where a level is missing or not an object (an
    # event with a field of another type than documented is not a match)
    for k in keys:
        obj = obj.get(k) if hasattr(obj, "get") else None
    return obj
