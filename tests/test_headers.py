"""Strict headers (issue 13, defect 5): a Content-Security-Policy with no inline script or
style on every console and status page, nosniff and frame rules on every response —
also on the status pages served as ready bytes by the front cache and on what the WSGI
fronts answer themselves — and HSTS only behind TLS."""

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, RequestFactory

from atalaia.comms import export
from atalaia.comms.actions import publish_update
from atalaia.comms.front import StatusFront
from atalaia.incidents.actions import declare_incident
from conftest import signed_in
from tests.servers import WebServer, database_url
from tests.test_permissions import PAGES, fill, incident  # noqa: F401 - `incident` is a fixture

GET_PAGES = [path for method, path, _data, _roles in PAGES if method == "GET"]
# Pages that are files to download, not pages to show: they carry the headers too.
STRICT = ("default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
          "base-uri 'self'", "form-action 'self'")


def assert_strict(response, framable: bool = False) -> None:
    policy = response["Content-Security-Policy"]
    for directive in STRICT:
        assert directive in policy, (directive, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    if framable:
        assert "frame-ancestors *" in policy
        assert "X-Frame-Options" not in response
    else:
        assert "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", GET_PAGES)
def test_every_console_page_has_the_strict_policy(path, incident, personas):  # noqa: F811
    response = signed_in(personas["admin"]).get(fill(path, incident))
    assert response.status_code == 200, (path, response.status_code)
    assert_strict(response)


@pytest.mark.parametrize("path", ["/accounts/login/", "/incidents/", "/api/v1/incidents",
                                  "/no/such/page/", "/static/atalaia/console.css"])
def test_sign_in_errors_api_and_static_files_have_it_too(path, db):
    assert_strict(Client().get(path))


@pytest.fixture
def crisis(demo, personas):
    found = declare_incident(personas["commander"], "Payments failing", ["payments"])
    publish_update(found, personas["communicator"], "identified", "Card payments fail.",
                   "Pagamentos falham.", components={"payments": "major_outage"})
    return found


def status_paths():
    return [*export.paths(), "/status/subscribe/", "/status/api/v2/status.json"]


def test_every_status_page_has_the_strict_policy(crisis):
    paths = status_paths()
    assert f"/status/incidents/{crisis.pk}" in paths and "/status/style.css" in paths
    for path in paths:
        response = Client().get(path)
        assert response.status_code == 200, path
        assert_strict(response, framable=path == "/status/banner/")


def test_the_banner_frame_may_be_embedded_only_where_configured(crisis, settings):
    settings.STATUS_EMBED_ORIGINS = ["https://shop.example", "https://intranet.example"]
    policy = Client().get("/status/banner/")["Content-Security-Policy"]
    assert "frame-ancestors https://shop.example https://intranet.example" in policy
    assert "frame-ancestors 'none'" in Client().get("/status/")["Content-Security-Policy"]


@pytest.fixture
def front():
    """The front cache around Django's own WSGI application, called in this process; the
    test's database connection is kept open across its requests (as Django's test client
    does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield StatusFront(WSGIHandler())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call(front, path, **extra):
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    environ = RequestFactory().get(path, **extra).environ
    body = b"".join(front(environ, start_response))
    headers = {name.lower(): value for name, value in captured["headers"]}
    return captured["status"], headers, body


def test_status_pages_served_from_the_front_cache_keep_every_security_header(crisis, front):
    for path in status_paths():
        if path.startswith(("/status/subscribe",)):
            continue  # never cached: a form with a CSRF token
        _status, first, body = call(front, path)
        copies = len(front.copies)
        status, again, body_again = call(front, path)
        assert len(front.copies) == copies and body_again == body  # served from the cache
        assert status.startswith("200"), path
        assert "content-language" not in again  # the front's copy, not Django's answer
        policy = again["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert again["x-content-type-options"] == "nosniff"
        assert again["referrer-policy"] == "same-origin"
        if path == "/status/banner/":
            assert "frame-ancestors *" in policy and "x-frame-options" not in again
        else:
            assert "frame-ancestors 'none'" in policy and again["x-frame-options"] == "DENY"


def test_the_fronts_own_answers_carry_the_headers(crisis, settings, front):
    settings.STATUS_RENDERS_PER_MINUTE = 1
    call(front, "/status/history/", REMOTE_ADDR="192.0.2.7")
    status, headers, _body = call(front, "/status/?lang=en", REMOTE_ADDR="192.0.2.7")
    assert status.startswith("429")
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_hsts_only_behind_a_tls_proxy(crisis, settings, front):
    """Django's SecurityMiddleware sends HSTS on secure requests only; the front keeps a
    copy per scheme, so an https visitor never gets a copy made for http (without HSTS)
    and the other way round."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31_536_000
    front = StatusFront(WSGIHandler())  # Django's middleware reads its settings once
    _status, plain, _body = call(front, "/status/")
    assert "strict-transport-security" not in plain
    for _ in range(2):
        _status, secure, _body = call(front, "/status/", HTTP_X_FORWARDED_PROTO="https")
        assert secure["strict-transport-security"] == "max-age=31536000"
    _status, plain, _body = call(front, "/status/")
    assert "strict-transport-security" not in plain


@pytest.mark.slow
def test_a_real_server_sends_hsts_and_secure_cookies_only_behind_a_tls_proxy(
        transactional_db, demo, personas, monkeypatch):
    proxy = {"X-Forwarded-Proto": "https"}
    for behind in ("", "1"):
        monkeypatch.setenv("ATALAIA_BEHIND_TLS_PROXY", behind)
        web = WebServer(database_url())
        try:
            login = httpx.get(web.url + "/accounts/login/", headers=proxy)
            status = [httpx.get(web.url + "/status/", headers=proxy) for _ in range(2)]
            intake = httpx.post(web.url + "/intake/generic", headers=proxy, content=b"{}")
        finally:
            web.stop()
        for response in (login, *status):
            assert "default-src 'self'" in response.headers["content-security-policy"]
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert ("strict-transport-security" in response.headers) == bool(behind)
        assert intake.status_code == 401  # no key: answered by the intake front itself
        assert intake.headers["x-content-type-options"] == "nosniff"
        assert intake.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in intake.headers["content-security-policy"]
        cookie = login.headers["set-cookie"].lower()
        assert ("; secure" in cookie) == bool(behind)


# Documents that are not pages of the site: the post-mortem as a downloaded file (or
# WeasyPrint's PDF) keeps its print stylesheet inline, since it must stand alone.
STANDALONE = {"review/postmortem_document.html"}


def test_no_template_has_inline_script_handlers_or_style():
    """What the policy would refuse, caught where it is written: an inline <script>, an
    on…= attribute, a javascript: link, a <style> element or a style attribute."""
    import re
    from pathlib import Path

    import atalaia

    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:|<style|"
                        r"\sstyle\s*=", re.IGNORECASE)
    found = []
    for template in Path(atalaia.__file__).parent.glob("*/templates/**/*.html"):
        name = template.as_posix().split("/templates/", 1)[1]
        if name in STANDALONE:
            continue
        found += [f"{name}: {m.group(0)}" for m in inline.finditer(template.read_text())]
    assert found == []
