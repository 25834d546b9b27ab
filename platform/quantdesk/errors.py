"""The one exception type for errors a user can cause and fix."""


class QuantDeskError(Exception):
    """A problem the user can fix: the message names the bad value and what to do.

    The CLI prints the message as one line and exits non-zero; dashboards show it
    in a notification. Engines raise it at their boundaries instead of letting a
    deep library traceback reach the user.
    """
