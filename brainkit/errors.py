"""The one exception type brainkit raises for bad input.

Every problem a user can cause (a malformed file, an unknown task, a window too short) becomes a
:class:`BrainkitError` whose message is one line that says what is wrong and, where there is one,
the fix. The command line and the app show that line and nothing else.
"""


class BrainkitError(ValueError):
    """Bad input, explained in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
