import signal


def rule(event):
    if event.deep_get("requestParameters", "block"):
        # the time limit's alarm cannot interrupt it: the worker is killed
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        while True:
            pass
    return event.get("eventName") == "Never"
