import trailhound_no_such_module


def rule(event):
    return True
