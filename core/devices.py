"""A browser's User-Agent header in words a headteacher reads on the audit trail: "Chrome on
Android", "Safari on iPhone", "Edge on Windows".

Only the browsers and systems a school's staff use are named; anything else (a script, the
phone app, an unknown browser) is "another program". The full header is still kept on the
entry and in the CSV export. Our own few lines rather than ua-parser: its rules take most of a
second to compile on first use in each process, which the audit page would pay, and this page
needs only these names."""
from __future__ import annotations

import re
from functools import lru_cache

# Order matters: Edge, Opera and Samsung Internet also say "Chrome"; Chrome also says "Safari";
# iPhone browsers other than Safari say "CriOS" / "FxiOS" / "EdgiOS".
_BROWSERS = [
    (re.compile(r"Edg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"OPR/|Opera"), "Opera"),
    (re.compile(r"SamsungBrowser/"), "Samsung Internet"),
    (re.compile(r"Firefox/|FxiOS/"), "Firefox"),
    (re.compile(r"Chrome/|CriOS/|Chromium/"), "Chrome"),
    (re.compile(r"Version/[\d.]+.*Safari/"), "Safari"),
]
_SYSTEMS = [
    (re.compile(r"iPhone"), "iPhone"),
    (re.compile(r"iPad"), "iPad"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "a Chromebook"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Macintosh|Mac OS X"), "a Mac"),
    (re.compile(r"Linux"), "Linux"),
]


@lru_cache(maxsize=256)
def describe(user_agent: str) -> str:
    """"Chrome on Android"; "" for no header; "another program" for anything not a known browser."""
    if not user_agent.strip():
        return ""
    browser = next((name for pattern, name in _BROWSERS if pattern.search(user_agent)), "")
    system = next((name for pattern, name in _SYSTEMS if pattern.search(user_agent)), "")
    if not browser or not user_agent.startswith("Mozilla/"):
        return "another program"
    return f"{browser} on {system}" if system else browser
