from panther_core import PantherEvent
from panther_detection_helpers.caching import check_account_age, get_counter, increment_counter


def rule(event: PantherEvent) -> bool:
    if event.udm("login_kind") != "login":
        return False
    increment_counter("logins")
    return check_account_age("new:" + event.deep_get("userIdentity", "userName", default=""))


def title(event):
    return f"New user {event.udm('actor')} logged in (login {get_counter('logins')})"
