# Written for trailhound's tests: an end tested with endswith on a part
# of the key, and a field that must be false.
def rule(event):
    key = event.deep_get("requestParameters", "key", default="")
    if event.get("errorCode"):
        return False
    return key.rpartition("/")[2].endswith((".ps1", ".SH"))
