from panther_detection_helpers.caching import put_string_set


def rule(event):
    if event.get("eventName") != "CreateUser":
        return False
    put_string_set("new:" + event.deep_get("requestParameters", "userName", default=""), ["x"])
    return True
