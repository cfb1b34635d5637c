"""Reading a school's data from Wonde's API (version 1.0), page by page.

    client = WondeClient(base_url, school_id, token)
    students = client.students(updated_after=None)     # every page, or raises WondeError

Every failure is a WondeError whose message says, in words, what went wrong and what to do;
nothing here writes to the database. Wonde's shapes: docs/mis-sync.md (and where we were unsure)."""
import datetime
import json
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

PER_PAGE = 200
STUDENT_INCLUDES = "contacts,contact_details,extended_details,year"
# How many times one page is asked for again after a 429; and the longest wait honoured.
MAX_RETRIES = 3
MAX_RETRY_AFTER = 60.0
# A school's whole roll is a few thousand students; this many pages means a loop.
MAX_PAGES = 10_000


class WondeError(Exception):
    """The sync could not read from Wonde; the message is for a headteacher."""


def wonde_time(moment: datetime.datetime) -> str:
    """updated_after's format: 'YYYY-MM-DD HH:MM:SS' in UTC."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


class WondeClient:
    def __init__(self, base_url: str, school_id: str, token: str, *, timeout: float = 30.0,
                 max_retries: int = MAX_RETRIES, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.school_id = school_id
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.requests_made = 0

    # The three reads a sync makes.
    def students(self, updated_after: datetime.datetime | None) -> list[dict[str, Any]]:
        params = {"include": STUDENT_INCLUDES, "per_page": str(PER_PAGE)}
        if updated_after is not None:
            params["updated_after"] = wonde_time(updated_after)
        return self.all_pages("students", params, "students")

    def deleted_students(self, updated_after: datetime.datetime) -> list[dict[str, Any]]:
        params = {"type": "student", "updated_after": wonde_time(updated_after), "per_page": str(PER_PAGE)}
        return self.all_pages("deletions", params, "deleted students")

    def session_marks(self, updated_after: datetime.datetime | None) -> list[dict[str, Any]]:
        params = {"include": "attendance_code", "per_page": str(PER_PAGE)}
        if updated_after is not None:
            params["updated_after"] = wonde_time(updated_after)
        return self.all_pages("attendance/session", params, "attendance marks")

    def all_pages(self, path: str, params: dict[str, str], what: str) -> list[dict[str, Any]]:
        """Every item of every page, following meta.pagination.next until it is absent."""
        url: str | None = f"{self.base_url}/schools/{self.school_id}/{path}"
        query: dict[str, str] | None = params
        items: list[dict[str, Any]] = []
        page = 0
        while url:
            page += 1
            if page > MAX_PAGES:
                raise WondeError(f"Wonde sent more than {MAX_PAGES} pages of {what}; the sync stopped. "
                                 "Nothing was changed.")
            body = self._get(url, query, what, page)
            data = body.get("data")
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise WondeError(f"Page {page} of {what} from Wonde had no list of records (the 'data' part is "
                                 "missing or not a list). Nothing was changed; try again later, and tell "
                                 "Doorstep's support if it keeps happening.")
            items.extend(data)
            url = self._next(body, page, what)
            query = None  # the next link carries the query
        return items

    def _next(self, body: dict[str, Any], page: int, what: str) -> str | None:
        meta = body.get("meta")
        pagination = meta.get("pagination") if isinstance(meta, dict) else None
        if pagination is None:
            return None  # one page only
        if not isinstance(pagination, dict):
            raise WondeError(f"Page {page} of {what} from Wonde had an unreadable 'pagination' part. "
                             "Nothing was changed.")
        nxt = pagination.get("next")
        if not nxt:
            return None
        if not isinstance(nxt, str):
            raise WondeError(f"Page {page} of {what} from Wonde gave an unreadable link to the next page. "
                             "Nothing was changed.")
        # The token goes only to the server it was meant for.
        ours, theirs = urlsplit(self.base_url), urlsplit(nxt)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise WondeError(f"Page {page} of {what} from Wonde pointed to a next page on another server "
                             f"({theirs.netloc or 'none'}); Doorstep did not follow it. Nothing was changed.")
        return nxt

    def _get(self, url: str, params: dict[str, str] | None, what: str, page: int) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            self.requests_made += 1
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.Timeout:
                raise WondeError(f"Wonde did not answer within {self.timeout:g} seconds (page {page} of {what}). "
                                 "Nothing was changed; try again later.") from None
            except requests.RequestException as exc:
                raise WondeError(f"Doorstep could not reach Wonde at {urlsplit(url).netloc} "
                                 f"({type(exc).__name__}). Nothing was changed; check the server's internet "
                                 "connection and try again.") from None
            status = response.status_code
            if status == 429 and attempt <= self.max_retries:
                self.sleep(_retry_after(response.headers.get("Retry-After")))
                continue
            if status == 429:
                raise WondeError(f"Wonde is limiting how often Doorstep may ask (too many requests) and still was "
                                 f"after {self.max_retries} waits. Nothing was changed; try again in a few minutes.")
            if status == 401:
                raise WondeError("Wonde refused the school's token (401): it is wrong, or it has been revoked. "
                                 "Nothing was changed. Copy the current token from Wonde and enter it on this page.")
            if status == 403:
                raise WondeError("Wonde says Doorstep may not read this school's data (403): the school has not "
                                 "approved Doorstep's access in Wonde, or has not allowed students, contacts or "
                                 "attendance. Nothing was changed. Approve it in Wonde's portal, then sync again.")
            if status == 404:
                raise WondeError("Wonde does not know this school (404): check the Wonde school id. "
                                 "Nothing was changed.")
            if status >= 500:
                raise WondeError(f"Wonde had a problem on its side (error {status}) while sending page {page} of "
                                 f"{what}. Nothing was changed; try again later.")
            if status != 200:
                raise WondeError(f"Wonde answered page {page} of {what} with an unexpected status ({status}). "
                                 "Nothing was changed.")
            try:
                body = response.json()
            except (ValueError, json.JSONDecodeError):
                raise WondeError(f"Page {page} of {what} from Wonde was not readable (not JSON). "
                                 "Nothing was changed; try again later.") from None
            if not isinstance(body, dict):
                raise WondeError(f"Page {page} of {what} from Wonde was not in the expected form. "
                                 "Nothing was changed.")
            return body


def _retry_after(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), within bounds."""
    if not value:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
        except (TypeError, ValueError):
            seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
