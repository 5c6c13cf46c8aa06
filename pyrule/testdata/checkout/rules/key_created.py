from th_test_helpers import context, succeeded

NAMES = {"CreateAccessKey", "UpdateAccessKey"}


def rule(event):
    if event.get("eventSource") != "iam.amazonaws.com":
        return False
    return event.get("eventName") in NAMES and succeeded(event)


def title(event):
    target = event.deep_get("requestParameters", "userName", default="<self>")
    return f"{event.udm('actor')} created an access key for {target}"


def dedup(event):
    return event.udm("actor")


def severity(event):
    if event.deep_get("requestParameters", "userName") == "root":
        return "critical"
    return "DEFAULT"


def alert_context(event):
    ctx = context(event)
    ctx["row"] = event.get("p_row_id")
    ctx["time"] = event.get("p_event_time")
    ctx["log_type"] = event.get("p_log_type")
    ctx["ips"] = event.get("p_any_ip_addresses")
    ctx["case"] = event.get("sourceipaddress")
    return ctx
