"""A calendar feed's secret address never reaches a log: not the web server's access log, not
Django's "Not Found" warning. (Tokens were found in the access log; logs are kept and read far
more widely than the database.)"""
import io
import logging
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from doorstep.logs import HideSecrets

TOKEN = "s3cretFeedToken_AbC123"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_djangos_not_found_warning_names_the_address_without_the_token(client):
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, HideSecrets) for f in h.filters))
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        response = client.get(f"/reports/calendar/{TOKEN}.ics")
    finally:
        handler.setStream(old)
    assert response.status_code == 404
    written = stream.getvalue()
    assert "Not Found: /reports/calendar/….ics" in written and TOKEN not in written


def test_the_web_servers_access_log_cuts_the_token_out(tmp_path):
    from doorstep.management.commands.start import Command

    web = next(c for c in Command().children({"bind": "127.0.0.1:0", "workers": 1}) if c.name == "web")
    argv = web.argv + ["--access-logfile", str(tmp_path / "access.log"), "--error-logfile", str(tmp_path / "error.log")]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "doorstep.settings", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
           "ALLOWED_HOSTS": "127.0.0.1", "DOORSTEP_HTTPS": "0", "DEBUG": "0"}
    server = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = None
        for _ in range(200):
            text = (tmp_path / "error.log").read_text() if (tmp_path / "error.log").exists() else ""
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            if found:
                port = found.group(1)
                break
            time.sleep(0.1)
        assert port, "gunicorn did not start"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/reports/calendar/{TOKEN}.ics", timeout=20)
        except urllib.error.HTTPError:
            pass  # whatever the answer (no database here), the request is logged
        for _ in range(50):
            log = (tmp_path / "access.log").read_text()
            if "/calendar/" in log:
                break
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert "GET /reports/calendar/….ics" in log
    assert TOKEN not in log
