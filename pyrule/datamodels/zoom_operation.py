"""Zoom's operation logs report: admins' changes to the account
(trailhound's built-in data model)."""


def event_type(event):
    # adding a user is action "Add" on category_type "User"
    if event.get("category_type") == "User" and event.get("action") == "Add":
        return "user_account_created"
    return None


def user(event):
    # operation_detail describes the change: "Add User <email> - ..."
    if event_type(event) is None:
        return None
    detail = event.get("operation_detail")
    if not isinstance(detail, str):
        return None
    words = detail.split()
    if len(words) >= 3 and words[0] == "Add" and words[1] == "User":
        return words[2]
    return None
