"""The refusals every app raises when a person may not do something.

They live at the bottom so that each app raises the same class: a view or the API catches
one NotAllowed, whichever service refused."""
from django.core.exceptions import PermissionDenied


class NotAllowed(PermissionDenied):
    """This person may not do this (their role, the policy's approvers, or the visit's state).
    The message is written for them and is shown as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NoPolicy(NotAllowed):
    """The school has no policy yet, so nothing can be checked against it."""
