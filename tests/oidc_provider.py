"""A real OpenID provider for the single sign-on tests: oidc-provider (npm, certified)
run with the machine's Node.js from tests/oidc/ (`make oidc-provider` installs it)."""

import copy
import os
import re
import subprocess
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import httpx

from tests.servers import free_port, wait_until_answers

FOLDER = Path(__file__).parent / "oidc"
CLIENT_ID = "atalaia"
CLIENT_SECRET = "test-client-secret-0123456789"


class OIDCProvider:
    """provider.js on a free port of 127.0.0.1, with one client: Atalaia at `site`."""

    def __init__(self, site: str, issuer: str | None = None, id_token_ttl: int = 300):
        if not (FOLDER / "node_modules" / "oidc-provider").exists():
            raise AssertionError("oidc-provider is not installed: run `make oidc-provider` "
                                 "(npm ci --prefix tests/oidc)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = issuer or self.url
        env = {**os.environ, "PORT": str(self.port), "ISSUER": self.issuer,
               "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
               "REDIRECT_URIS": site + "/accounts/sso/callback/",
               "POST_LOGOUT_REDIRECT_URIS": site + "/accounts/login/",
               "ID_TOKEN_TTL": str(id_token_ttl)}
        self.process = subprocess.Popen(["node", str(FOLDER / "provider.js")], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self._wait()

    def _wait(self) -> None:
        wait_until_answers(self, self.url + "/.well-known/openid-configuration",
                           "oidc-provider")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def settings_for(self, settings, **overrides) -> None:
        """Point Atalaia (pytest-django's `settings`) at this provider."""
        settings.OIDC_ISSUER = overrides.pop("issuer", self.url)
        settings.OIDC_CLIENT_ID = CLIENT_ID
        settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
        settings.OIDC_PROVIDER_NAME = "Test IdP"
        # The provider puts the groups claim in the ID token for the groups scope.
        settings.OIDC_SCOPES = ["openid", "profile", "email", "groups"]
        for name, value in overrides.items():
            setattr(settings, name, value)
        # As settings.py does for a configured issuer: the logout form may lead there.
        policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
        policy["DIRECTIVES"]["form-action"].append(self.url)
        settings.CONTENT_SECURITY_POLICY = policy

    def sign_in(self, authorization_url: str, login: str) -> str:
        """Sign in at the provider as `login` through its login form, as a person would,
        and return the URL it sends the browser back to (with the code), unvisited."""
        with httpx.Client(timeout=10) as browser:
            response = browser.get(authorization_url)
            for _step in range(10):
                if response.is_redirect:
                    target = urljoin(str(response.url), response.headers["location"])
                    if "/accounts/sso/callback/" in target:
                        return target
                    response = browser.get(target)
                elif 'name="login"' in response.text:
                    action = unescape(re.search(r'action="([^"]+)"', response.text).group(1))
                    response = browser.post(urljoin(str(response.url), action), data={
                        "prompt": "login", "login": login, "password": "any"})
                else:
                    break
        raise AssertionError(f"the provider did not send the browser back: {response.text}")
