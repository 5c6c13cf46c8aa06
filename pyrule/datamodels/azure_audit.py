"""Microsoft Entra ID (Azure AD) sign-in logs as Azure Monitor exports
them (trailhound's built-in data model)."""

# the categories of Entra ID's sign-in logs: users' interactive and
# non-interactive sign-ins, service principals', managed identities'
_SIGN_INS = {"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs"}


def event_type(event):
    # a sign-in's properties.status.errorCode is 0 when it succeeded
    if event.get("category") not in _SIGN_INS:
        return None
    code = ((event.get("properties") or {}).get("status") or {}).get("errorCode")
    if code is None:
        return None
    return "successful_login" if str(code) == "0" else "failed_login"


def actor_user(event):
    # who signed in: a user's principal name, else the service principal's
    props = event.get("properties") or {}
    return props.get("userPrincipalName") or props.get("servicePrincipalName")
