"""The whole public status site as static files, for any web server or CDN.

`atalaia status export DIR` writes every public page, the Statuspage JSON, the
feeds, the banner and the badges under DIR with their URL paths (`/status/` is
`status/index.html`). English is the default file; the Portuguese variant sits
beside it with a `.pt-br` suffix, which a server picks with the `lang` query
parameter (docs/status-page.md has an nginx snippet). With
ATALAIA_STATUS_EXPORT_DIR set, the worker writes it again after every public
change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client

from atalaia.comms import public, statuspage_urls, version

JSON = [str(route.pattern) for route in statuspage_urls.urlpatterns]
_exported = {"version": -1}


def paths() -> list[str]:
    found = ["/status/", "/status/history/", "/status/feed.atom", "/status/maintenance.ics",
             "/status/banner.json", "/status/banner.js", "/status/banner/", "/status/style.css"]
    found += [f"/status/api/v2/{name}" for name in JSON]
    found += [f"/status/incidents/{i.pk}" for i in public.incidents(limit=500)]
    found += [f"/status/badge/{c.service.slug}.svg" for c in public.components()]
    return found


def export(folder: Path) -> int:
    """Write the site into `folder` (replaced as a whole, so a reader never sees half of
    it); the number of files written."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".status-export-", dir=folder.parent))
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    client = Client(SERVER_NAME=host)
    written = 0
    for path in paths():
        for language, suffix in (("en", ""), ("pt-br", ".pt-br")):
            response = client.get(path, {"lang": language})
            if response.status_code != 200:
                continue
            target = staging / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))
            target = target.with_name(target.name + suffix)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(response.content)
            written += 1
    _swap(staging, folder)
    return written


def _swap(staging: Path, folder: Path) -> None:
    old = folder.with_name(folder.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)


def refresh() -> int:
    """Worker step: export again when the public status changed since the last export."""
    if not settings.STATUS_EXPORT_DIR:
        return 0
    current = version.current()
    if current == _exported["version"]:
        return 0
    export(Path(settings.STATUS_EXPORT_DIR))
    _exported["version"] = current
    return 1
