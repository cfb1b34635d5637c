"""Small pieces of wording that every app's messages share."""
from collections.abc import Iterable


def and_list(items: Iterable[object], empty: str = "") -> str:
    """"Sam", "Sam and Priya", "Sam, Priya and Jo": how the staff on a visit, or the roles on
    a ladder step, are named in messages and pages. `empty` is said when there is nobody."""
    names = [str(i) for i in items if i]
    if not names:
        return empty
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
