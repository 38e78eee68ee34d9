"""The one error family fusegen raises for problems a user can fix.

Every public error names the input, key, file or row involved, what was
expected, what was received and how to fix it. The CLI prints such errors as
one line; anything that is not a `FusegenError` is a bug in fusegen and keeps
its traceback.
"""

from __future__ import annotations


class FusegenError(Exception):
    """Base class of every error a user can act on.

    Args:
        message: what went wrong, naming the key, input, file or row.
        hint: optional advice on how to fix it, printed after the message.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} Hint: {self.hint}"
        return self.message


class SpecError(FusegenError):
    """A spec that does not validate. Carries every problem at once.

    Args:
        problems: one line per problem, each starting with its key path,
            e.g. ``inputs.photo.height: expected a positive integer, received -3``.
        source: the file the spec came from, if any.
    """

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        message = f"The spec{where} has {count} {noun}: " + "; ".join(self.problems)
        super().__init__(message)


class ShapeError(FusegenError):
    """A spec whose shapes cannot be planned into a working model."""


class DataError(FusegenError):
    """Data that does not fit the spec: a missing column, a wrong dtype, NaN..."""


class RunError(FusegenError):
    """A run directory or artifact that is missing, incomplete or tampered with."""


class FusegenWarning(UserWarning):
    """Something a user asked for explicitly that fusegen does, but that deserves a second look.

    The CLI prints it as one line, ``fusegen: warning: ...``.
    """
