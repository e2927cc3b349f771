"""The root of every bad-input error in the project: one class a caller catches to print one
line and exit 2. Validators raise a subclass where they check; a programming error (a plain
ValueError, TypeError, ...) is never caught as bad input and keeps its traceback."""


class UserError(ValueError):
    """Bad user input (a setting, a file, a storage URL, a study name); the message says what
    is wrong and what is allowed, in one line."""
