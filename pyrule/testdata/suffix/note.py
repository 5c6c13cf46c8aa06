# Written for trailhound's tests: the shape of a rule that takes a file
# name from a helper (the key, else an S3 object ARN among the resources)
# and matches it against end-anchored patterns that ignore case.
import re

PATTERNS = [
    r"(?i)(read|how)[_-]?me.*\.(txt|html?)$",
    r"(?i)^[a-z]+[_-]?(kis|notes?)\.(md|txt)$",
]

COMPILED = [re.compile(p) for p in PATTERNS]


def file_name(event):
    key = event.deep_get("requestParameters", "key", default="")
    if not key:
        for resource in event.get("resources", []):
            if resource.get("type") == "AWS::S3::Object":
                arn = resource.get("ARN", "")
                if "/" in arn:
                    key = arn.split("/", 1)[1]
                    break
    name = key.split("/")[-1] if "/" in key else key
    return name


def rule(event):
    if event.get("eventName") != "PutObject" or event.get("errorCode"):
        return False
    name = file_name(event)
    return any(p.match(name) for p in COMPILED)


def title(event):
    return f"note {file_name(event)}"
