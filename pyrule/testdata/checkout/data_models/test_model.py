def actor_name(event):
    return event.deep_get("userIdentity", "userName", default="<unknown>")


def login_kind(event):
    if event.get("eventName") == "ConsoleLogin":
        return "login"
    return None
