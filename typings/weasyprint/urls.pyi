# See __init__.pyi: only what Doorstep uses, from WeasyPrint 70.
import ssl
from collections.abc import Collection, Mapping
from urllib.request import OpenerDirector

class URLFetcherResponse: ...

class URLFetcher(OpenerDirector):
    def __init__(
        self,
        timeout: float = 10,
        ssl_context: ssl.SSLContext | None = None,
        http_headers: Mapping[str, str] | None = None,
        allowed_protocols: Collection[str] | None = None,
        allow_redirects: bool = True,
        fail_on_errors: bool = False,
    ) -> None: ...
    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse: ...
