"""Small pieces of wording that every app's messages share."""


def and_list(items, empty="") -> str:
    """"Sam", "Sam and Priya", "Sam, Priya and Jo": how the staff on a visit, or the roles on
    a ladder step, are named in messages and pages. `empty` is said when there is nobody."""
    items = [str(i) for i in items if i]
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
