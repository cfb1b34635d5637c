"""A local stand-in for Wonde's API (v1.0), built from the shapes Wonde documents:
`data` is a list, `meta.pagination` has next, previous, more, per_page and current_page, and
included objects are wrapped as {"data": ...}. Tests and bench/wonde_sync_bench.py start it.

    fake = FakeWonde(token="secret", school_id="A1")
    fake.add_student(make_student(1, upn))        # stamped as updated now
    fake.script = [401]                           # the next request is answered 401
    ... settings.WONDE_BASE_URL = fake.url
"""
import datetime
import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.local_server import LocalServer


def wonde_date(day: datetime.date) -> dict[str, Any]:
    return {"date": f"{day.isoformat()} 00:00:00.000000", "timezone_type": 3, "timezone": "Europe/London"}


def make_student(n: int, upn: str, *, dob: datetime.date, street: str | None = None, year: str = "Year 4",
                 contacts: int = 1, surname: str = "Example") -> dict[str, Any]:
    """A student as Wonde sends it with include=contacts,contact_details,extended_details,year."""
    return {
        "id": f"B{n:09d}",
        "mis_id": str(1000 + n),
        "upi": f"upi{n}",
        "forename": f"Pupil{n}",
        "surname": surname,
        "legal_forename": f"Pupil{n}",
        "legal_surname": surname,
        "date_of_birth": wonde_date(dob),
        "extended_details": {"data": {"upn": upn, "former_upn": None}},
        "year": {"data": {"id": "Y4", "code": year.split()[-1], "name": year}},
        "contact_details": {"data": {
            "emails": {"email": None, "primary": None, "home": None, "work": None},
            "phones": {"phone": None, "home": None, "mobile": None, "work": None, "primary": None},
            "addresses": {"home": {"house_number": str(n), "house_name": None, "apartment": None,
                                   "street": street or "Mill Lane", "district": None, "locality": None,
                                   "town": "Testford", "county": None, "country": "England",
                                   "postcode": "UB10 0AA"}},
        }},
        "contacts": {"data": [
            {"id": f"C{n:07d}{k}", "mis_id": f"{5000 + n}{k}", "title": "Mrs" if k == 0 else "Mr",
             "forename": f"Parent{k}", "surname": surname,
             "relationship": {"relationship": "Mother" if k == 0 else "Father", "bio_parent": True,
                              "guardian": None, "lives_with_pupil": True, "parental_responsibility": True,
                              "priority": k + 1, "email_bills": None, "copy_bills": None, "court_order": None},
             "contact_details": {"data": {
                 "emails": {"email": f"parent{n}-{k}@home.example", "primary": None, "home": None, "work": None},
                 "phones": {"phone": None, "home": None, "mobile": f"07700 9{n:05d}", "work": None, "primary": None},
             }}}
            for k in range(contacts)
        ]},
    }


def session_mark(n: int, student_id: str, day: datetime.date, session: str, code: str) -> dict[str, Any]:
    return {"id": f"S{n}", "student": student_id, "session": session, "date": wonde_date(day),
            "attendance_code": {"data": {"id": f"AC{code}", "code": code}}}


def _when(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.UTC)


class FakeWonde(LocalServer):
    """script: what to answer the next requests with, in order: 401, 403, 500, (429, "2") (with
    Retry-After: 2), "malformed" (not JSON), "no-data" (a page without its data list)."""

    url_path = "/v1.0"

    def __init__(self, *, token: str = "wonde-test-token", page_size: int = 200) -> None:
        self.token = token
        self.page_size = page_size
        self.schools: dict[str, dict[str, Any]] = {}
        self.script: list[Any] = []
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        super().__init__()

    def school(self, school_id: str) -> dict[str, Any]:
        return self.schools.setdefault(school_id, {"students": {}, "deletions": [], "marks": []})

    @staticmethod
    def now() -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    def add_student(self, school_id: str, student: dict[str, Any]) -> None:
        with self.lock:
            self.school(school_id)["students"][student["id"]] = (student, self.now())

    def delete_student(self, school_id: str, student_id: str) -> None:
        with self.lock:
            s = self.school(school_id)
            s["students"].pop(student_id, None)
            s["deletions"].append(({"id": student_id, "type": "student", "restored_at": None,
                                    "deleted_at": {"date": self.now().strftime("%Y-%m-%d %H:%M:%S.000000")}},
                                   self.now()))

    def add_mark(self, school_id: str, mark: dict[str, Any]) -> None:
        with self.lock:
            self.school(school_id)["marks"].append((mark, self.now()))

    def paths(self) -> list[str]:
        return [p for p, _q, _a in self.requests]

    def handle(self, h: BaseHTTPRequestHandler, method: str = "GET") -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        auth = h.headers.get("Authorization", "")
        with self.lock:
            self.requests.append((parts.path, query, auth))
            step = self.script.pop(0) if self.script else None
        if isinstance(step, tuple) and step[0] == 429:
            return self.send(h, 429, b'{"error": "too_many_requests"}', {"Retry-After": step[1]})
        if isinstance(step, int):
            return self.send(h, step, json.dumps({"error": f"error {step}"}).encode())
        if step == "malformed":
            return self.send(h, 200, b'{"data": [{"id": "B1", ')
        if auth != f"Bearer {self.token}":
            return self.send(h, 401, b'{"error": "invalid_token"}')
        prefix = "/v1.0/schools/"
        if not parts.path.startswith(prefix):
            return self.send(h, 404, b'{"error": "not found"}')
        school_id, _, what = parts.path[len(prefix):].partition("/")
        if school_id not in self.schools:
            return self.send(h, 404, b'{"error": "school not found"}')
        after = _when(query["updated_after"][0]) if "updated_after" in query else None
        with self.lock:
            s = self.school(school_id)
            source = {"students": list(s["students"].values()), "deletions": s["deletions"],
                      "attendance/session": s["marks"]}.get(what)
            if source is None:
                return self.send(h, 404, b'{"error": "not found"}')
            items = [item for item, stamp in source if after is None or stamp >= after]
        per_page = min(int(query.get("per_page", ["50"])[0]), self.page_size)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        more = page * per_page < len(items)
        base = f"{self.url.rsplit('/v1.0', 1)[0]}{parts.path}"

        def link(p: int) -> str:
            q = {k: v[0] for k, v in query.items()}
            q["page"] = str(p)
            return f"{base}?{urlencode(q)}"

        body: dict[str, Any] = {"meta": {"pagination": {
            "next": link(page + 1) if more else None, "previous": link(page - 1) if page > 1 else None,
            "more": more, "per_page": per_page, "current_page": page}}}
        if step != "no-data":
            body["data"] = chunk
        return self.send(h, 200, json.dumps(body).encode())
