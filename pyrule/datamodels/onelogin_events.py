"""OneLogin Events API events (trailhound's built-in data model)."""

# OneLogin's event type ids (its Get Event Types list): 5
# USER_LOGGED_INTO_ONELOGIN, 6 USER_FAILED_AUTHENTICATION, 13 USER_CREATED.
_TYPES = {5: "successful_login", 6: "failed_login", 13: "user_account_created"}


def event_type(event):
    # the id is a number, sometimes written as a string
    try:
        return _TYPES.get(int(event.get("event_type_id")))
    except (TypeError, ValueError):
        return None
