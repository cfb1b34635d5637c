from django.core.management.base import CommandError

from schools.models import School


def find_school(text: str) -> School:
    """A school by its name (any case), its URN or its id: schools have no slug."""
    text = text.strip()
    matches = list(School.objects.filter(name__iexact=text)) or list(School.objects.filter(urn=text))
    if not matches and text.isdigit():
        matches = list(School.objects.filter(pk=int(text)))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = "; ".join(f"{name} (URN {urn or '-'})" for name, urn in School.objects.values_list("name", "urn")) or "none yet"
        raise CommandError(f"No school called {text!r} (schools: {known})")
    raise CommandError(f"More than one school matches {text!r}; use its URN")
