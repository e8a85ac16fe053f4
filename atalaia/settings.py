"""Atalaia settings: everything comes from ATALAIA_* variables with working defaults.

A fresh clone runs on SQLite under ./data with no configuration at all; the
variables are listed in docs/configuration.md.
"""

import re
from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from atalaia.lib import env, secretkey

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(env.string("ATALAIA_DATA_DIR", str(Path.cwd() / "data"))).resolve()

DATABASES = {"default": env.database("ATALAIA_DATABASE_URL", DATA_DIR / "atalaia.sqlite3")}
env.sqlite_durability()  # checked whichever database is in use: a bad value is an error
EMBEDDED = DATABASES["default"]["ENGINE"].endswith("sqlite3")

if EMBEDDED:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
# The instance secret (atalaia/lib/secretkey.py says where it is read from) and older
# secrets still accepted: Django's signing and sessions, and the key ring that decrypts
# stored secrets and checks timeline MACs (atalaia/lib/crypto.py). Rotation:
# docs/configuration.md. SECRET_KEY_PATH is the file the key came from (None: environment).
CONFIG_DIR = secretkey.config_dir()
SECRET_KEY, SECRET_KEY_PATH = secretkey.load(CONFIG_DIR, DATA_DIR, EMBEDDED)
SECRET_KEY_FALLBACKS = secretkey.fallbacks()
DEBUG = env.boolean("ATALAIA_DEBUG", False)
ALLOWED_HOSTS = env.string_list("ATALAIA_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.string_list("ATALAIA_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env.string("ATALAIA_SITE_URL", "http://127.0.0.1:8000")
SITE_NAME = env.string("ATALAIA_SITE_NAME", "Atalaia")

INSTALLED_APPS = [
    # Before django.contrib.auth: its createsuperuser makes an admin (account role).
    "atalaia.accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # The API's docs page from its own static files: the CDN variant runs an inline script.
    "ninja",
    "atalaia.catalog",
    "atalaia.plans",
    "atalaia.incidents",
    "atalaia.intake",
    "atalaia.monitoring",
    "atalaia.oncall",
    "atalaia.notify",
    "atalaia.comms",
    "atalaia.remote",
    "atalaia.review",
    "atalaia.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside WhiteNoise: static files get the policy and frame rules too.
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "atalaia.web.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "atalaia.accounts.middleware.TwoFactorMiddleware",
    "atalaia.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# Headers on every response (the WSGI fronts keep them on the bytes they serve, and put
# them on what they answer themselves: atalaia/lib/headers.py). The policy allows no
# inline script or style: the pages' scripts and styles are static files.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sites allowed to frame the status banner (/status/banner/): "*" for any, or origins.
STATUS_EMBED_ORIGINS = env.string_list("ATALAIA_STATUS_EMBED_ORIGINS", ["*"])
# An external logo on the status site (ATALAIA_STATUS_LOGO_URL) may be loaded from its origin.
_LOGO_ORIGIN = env.origin("ATALAIA_STATUS_LOGO_URL")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, *([_LOGO_ORIGIN] if _LOGO_ORIGIN else [])],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# A proxy in front terminates TLS and says so in X-Forwarded-Proto: then requests count
# as secure, cookies are sent over HTTPS only, and browsers are told to use HTTPS only
# (HSTS) — also when `atalaia web` serves TLS itself. Without TLS, none of it.
BEHIND_TLS_PROXY = env.boolean("ATALAIA_BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
_SERVES_TLS = BEHIND_TLS_PROXY or bool(env.string("ATALAIA_TLS_CERT_FILE"))
SECURE_HSTS_SECONDS = env.integer("ATALAIA_HSTS_SECONDS", 31_536_000, minimum=0) \
    if _SERVES_TLS else 0

ROOT_URLCONF = "atalaia.urls"
WSGI_APPLICATION = "atalaia.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "incidents:list"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "atalaia.web.context.site",
                "atalaia.comms.context.public",
            ],
        },
    }
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pt-br", _("Brazilian Portuguese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env.string("ATALAIA_TIME_ZONE", "UTC")

STATIC_URL = "/static/"
# Only for `collectstatic`; WhiteNoise serves the apps' static files directly.
STATIC_ROOT = env.string("ATALAIA_STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.boolean("ATALAIA_SECURE_COOKIES",
                                    SITE_URL.startswith("https://") or _SERVES_TLS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

REDIS_URL = env.string("ATALAIA_REDIS_URL")
# Proxies (addresses or networks) whose X-Forwarded-For is believed: the client address
# that rate limits and logs use (atalaia/lib/clientaddress.py). Empty: none.
TRUSTED_PROXIES = env.network_list("ATALAIA_TRUSTED_PROXIES")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Processes: how often they report themselves alive, and after how long a
# silent one counts as down on /healthz.
HEARTBEAT_SECONDS = env.number("ATALAIA_HEARTBEAT_SECONDS", 5.0, minimum=0.05)
HEARTBEAT_STALE_SECONDS = env.number("ATALAIA_HEARTBEAT_STALE_SECONDS", 30.0, minimum=0.1)
# A Healthchecks-style URL the worker pings every WATCHDOG_SECONDS while every
# part is alive, so that a service outside notices when Atalaia itself is down.
WATCHDOG_URL = env.string("ATALAIA_WATCHDOG_URL")
WATCHDOG_SECONDS = env.number("ATALAIA_WATCHDOG_SECONDS", 60.0, minimum=1)
if WATCHDOG_URL and not WATCHDOG_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("ATALAIA_WATCHDOG_URL: expected an http:// or https:// URL")
# How often a web process looks for new timeline entries to push to live viewers.
LIVE_POLL_SECONDS = env.number("ATALAIA_LIVE_POLL_SECONDS", 0.25, minimum=0.01)
# A live stream ends after this long; the browser reconnects and resumes.
LIVE_STREAM_SECONDS = env.number("ATALAIA_LIVE_STREAM_SECONDS", 300.0, minimum=1)
WEB_WORKERS = env.integer("ATALAIA_WEB_WORKERS", 2, minimum=1)
WEB_THREADS = env.integer("ATALAIA_WEB_THREADS", 128, minimum=1)
# A web request (not a live stream) is interrupted after this long, and its worker
# replaced if it still runs the grace later (atalaia/lib/deadline.py). Above the
# intake's 30 s wait for its commit.
WEB_REQUEST_SECONDS = env.number("ATALAIA_WEB_REQUEST_SECONDS", 60.0, minimum=1)
WEB_REQUEST_GRACE_SECONDS = env.number("ATALAIA_WEB_REQUEST_GRACE_SECONDS", 10.0, minimum=1)
# HTTPS served by `atalaia web` itself, for setups without a proxy in front.
TLS_CERT_FILE = env.string("ATALAIA_TLS_CERT_FILE")
TLS_KEY_FILE = env.string("ATALAIA_TLS_KEY_FILE")
if bool(TLS_CERT_FILE) != bool(TLS_KEY_FILE):
    raise ImproperlyConfigured("ATALAIA_TLS_CERT_FILE and ATALAIA_TLS_KEY_FILE go together")

CHROMIUM = env.string("ATALAIA_CHROMIUM", "/usr/bin/chromium")
GRAPHVIZ_DOT = env.string("ATALAIA_GRAPHVIZ_DOT", "dot")
# Above this many services the dependency picture shows only the
# neighbourhood of the services in question.
GRAPH_FULL_LIMIT = env.integer("ATALAIA_GRAPH_FULL_LIMIT", 250, minimum=1)
REQUIRE_2FA_FOR_ALL = env.boolean("ATALAIA_REQUIRE_2FA", False)

NINJA_PAGINATION_PER_PAGE = 50

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.string("ATALAIA_LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO: one line per check in the prober.
    "loggers": {"django.server": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# Intake: the largest request body accepted, the default events per minute per
# integration (a burst of that many, refilled over a minute: accounts/limits.py), and
# how long after its last signal an incident still takes in related new signals.
INTAKE_MAX_BYTES = env.integer("ATALAIA_INTAKE_MAX_BYTES", 1_048_576, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, INTAKE_MAX_BYTES)
INTAKE_RATE_PER_MINUTE = env.integer("ATALAIA_INTAKE_RATE_PER_MINUTE", 6000, minimum=1)
GROUPING_WINDOW_MINUTES = env.integer("ATALAIA_GROUPING_WINDOW_MINUTES", 30, minimum=1)
# Outgoing e-mail (every header is ours: Django's e-mail framework over SMTP).
EMAIL_HOST = env.string("ATALAIA_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = env.integer("ATALAIA_SMTP_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.string("ATALAIA_SMTP_USER")
EMAIL_HOST_PASSWORD = env.string("ATALAIA_SMTP_PASSWORD")
EMAIL_USE_TLS = env.boolean("ATALAIA_SMTP_STARTTLS", False)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env.string("ATALAIA_EMAIL_FROM", "atalaia@localhost")
# The demo's mail catcher (`make run` sets it): `atalaia run` starts it on this port.
MAILCATCHER_PORT = env.integer("ATALAIA_MAILCATCHER_PORT", 0, minimum=0)
# Deliveries: attempts before a message is dead, the first retry delay (doubling
# up to the maximum), and after how long a delivery left "sending" by a worker
# that died is sent again.
DELIVERY_MAX_ATTEMPTS = env.integer("ATALAIA_DELIVERY_MAX_ATTEMPTS", 8, minimum=1)
DELIVERY_RETRY_SECONDS = env.number("ATALAIA_DELIVERY_RETRY_SECONDS", 10.0, minimum=0.01)
DELIVERY_RETRY_MAX_SECONDS = env.number("ATALAIA_DELIVERY_RETRY_MAX_SECONDS", 3600.0,
                                        minimum=0.01)
DELIVERY_SENDING_TIMEOUT = env.number("ATALAIA_DELIVERY_SENDING_TIMEOUT", 300.0, minimum=1)
# SMTP connections a worker sends a turn's e-mails over at once.
DELIVERY_SMTP_CONNECTIONS = env.integer("ATALAIA_DELIVERY_SMTP_CONNECTIONS", 2, minimum=1)
# Let outbound requests to URLs people typed (subscriber webhooks, company channels,
# contact methods' Apprise URLs) reach private
# and loopback addresses: off by default, so a subscriber cannot aim Atalaia at
# its own network.
OUTBOUND_ALLOW_PRIVATE = env.boolean("ATALAIA_OUTBOUND_ALLOW_PRIVATE", False)
# The DNS server that outbound requests ask for a host's addresses (10.0.0.2,
# 10.0.0.2:5353, [::1]:53); empty: the system's resolver. The address checked is the
# one connected to either way.
OUTBOUND_NAMESERVER = env.string("ATALAIA_OUTBOUND_NAMESERVER", "")
# Every outbound request to such a URL: one total deadline in seconds (connect, send
# and the whole reply, however slowly it trickles in) and the most of a reply's body
# read (the rest is never read: the status code is what counts).
OUTBOUND_DEADLINE_SECONDS = env.number("ATALAIA_OUTBOUND_DEADLINE_SECONDS", 10.0, minimum=0.1)
OUTBOUND_MAX_REPLY_BYTES = env.integer("ATALAIA_OUTBOUND_MAX_REPLY_BYTES", 65536, minimum=0)
# The public status site's branding.
STATUS_NAME = env.string("ATALAIA_STATUS_NAME", "Atalaia demo store")
STATUS_LOGO_URL = env.string("ATALAIA_STATUS_LOGO_URL", "")
STATUS_COLOR = env.string("ATALAIA_STATUS_COLOR", "#0b6e4f")
if not re.fullmatch(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?", STATUS_COLOR):
    raise ImproperlyConfigured("ATALAIA_STATUS_COLOR: a colour such as #0b6e4f")
STATUS_TIME_ZONE = env.string("ATALAIA_STATUS_TIME_ZONE", "America/Sao_Paulo")
# Where the worker keeps a static copy of the public status site (empty: nowhere).
STATUS_EXPORT_DIR = env.string("ATALAIA_STATUS_EXPORT_DIR", "")
# Browsers and CDNs may keep a public status response this many seconds.
STATUS_MAX_AGE = env.integer("ATALAIA_STATUS_MAX_AGE", 10, minimum=0)
# Renders of public status pages (cache misses) per client address: a burst of this
# many, refilled over a minute (accounts/limits.py); 0: no limit.
STATUS_RENDERS_PER_MINUTE = env.integer("ATALAIA_STATUS_RENDERS_PER_MINUTE", 120, minimum=0)
# /metrics (Prometheus): open to these networks, or to a request with this bearer token.
METRICS_ALLOW = [n.strip() for n in env.string("ATALAIA_METRICS_ALLOW",
                                               "127.0.0.1/32,::1/128").split(",") if n.strip()]
METRICS_TOKEN = env.string("ATALAIA_METRICS_TOKEN", "")
# Account roles that may run ad-hoc commands over SSH (always as approved changes).
REMOTE_ADHOC_ROLES = [r.strip() for r in env.string("ATALAIA_REMOTE_ADHOC_ROLES",
                                                    "admin,commander").split(",") if r.strip()]
# How long before a scheduled maintenance the communicators are reminded.
MAINTENANCE_REMINDER_MINUTES = env.integer("ATALAIA_MAINTENANCE_REMINDER_MINUTES", 60,
                                           minimum=1)
# Subscribers a worker turn expands a broadcast to (one transaction each).
BROADCAST_BATCH = env.integer("ATALAIA_BROADCAST_BATCH", 500, minimum=1)
# The public status pages: how often each web process looks whether its cached
# pages are stale (a change shows on every process within this time).
STATUS_VERSION_CHECK_SECONDS = env.number("ATALAIA_STATUS_VERSION_CHECK_SECONDS", 0.5,
                                          minimum=0)
# Sign-ups to status updates: a burst of this many, refilled over an hour, per address
# signed up and per client address (accounts/limits.py).
STATUS_SIGNUPS_PER_ADDRESS_HOUR = env.integer("ATALAIA_STATUS_SIGNUPS_PER_ADDRESS_HOUR", 3,
                                              minimum=1)
STATUS_SIGNUPS_PER_IP_HOUR = env.integer("ATALAIA_STATUS_SIGNUPS_PER_IP_HOUR", 20, minimum=1)
# How long the acknowledgement link in a page notification works.
PAGE_ACK_LINK_HOURS = env.integer("ATALAIA_PAGE_ACK_LINK_HOURS", 24, minimum=1)
# How long the worker waits before looking again when it found nothing to do.
WORKER_POLL_SECONDS = env.number("ATALAIA_WORKER_POLL_SECONDS", 0.25, minimum=0.01)
# Rows a job keeps failing on (a signal to group, a broadcast to expand): attempts
# before the row is quarantined (set aside, its error shown), and the first retry
# delay, doubling up to the maximum.
ROW_MAX_ATTEMPTS = env.integer("ATALAIA_ROW_MAX_ATTEMPTS", 5, minimum=1)
ROW_RETRY_SECONDS = env.number("ATALAIA_ROW_RETRY_SECONDS", 10.0, minimum=0)
ROW_RETRY_MAX_SECONDS = env.number("ATALAIA_ROW_RETRY_MAX_SECONDS", 600.0, minimum=0)
# The incident room lists changes (deploys…) from this many hours before declaration.
CHANGES_LOOKBACK_HOURS = env.integer("ATALAIA_CHANGES_LOOKBACK_HOURS", 4, minimum=1)

# Prober: checks in flight at once per prober, how long a lease on a monitor
# lasts (a dead prober's monitors move to another within this), how often
# results are written (one transaction per flush).
PROBER_CONCURRENCY = env.integer("ATALAIA_PROBER_CONCURRENCY", 1000, minimum=1)
PROBER_LEASE_SECONDS = env.number("ATALAIA_PROBER_LEASE_SECONDS", 30.0, minimum=0.5)
PROBER_FLUSH_SECONDS = env.number("ATALAIA_PROBER_FLUSH_SECONDS", 0.5, minimum=0.01)
# How often the prober logs its checks per second and scheduling lag.
PROBER_STATS_SECONDS = env.number("ATALAIA_PROBER_STATS_SECONDS", 60.0, minimum=0.1)
# Monitors: raw results are kept this many days (hourly and daily roll-ups stay;
# latency baselines by hour of week need 21 days or more);
# a monitor with FLAP_CHANGES state changes within FLAP_WINDOW_MINUTES is flapping.
MONITOR_RAW_DAYS = env.integer("ATALAIA_MONITOR_RAW_DAYS", 35, minimum=1)
FLAP_CHANGES = env.integer("ATALAIA_FLAP_CHANGES", 6, minimum=2)
FLAP_WINDOW_MINUTES = env.number("ATALAIA_FLAP_WINDOW_MINUTES", 30.0, minimum=0.01)

# Single sign-on with OpenID Connect (atalaia/accounts/sso.py, docs/sso.md): off until an
# issuer is set. Register ATALAIA_SITE_URL + /accounts/sso/callback/ as the redirect URI
# and ATALAIA_SITE_URL + /accounts/login/ as the post-logout redirect URI at the provider.
OIDC_ISSUER = env.string("ATALAIA_OIDC_ISSUER")
# The name on the login page's button: "Sign in with <name>".
OIDC_PROVIDER_NAME = env.string("ATALAIA_OIDC_PROVIDER_NAME", "SSO")
OIDC_CLIENT_ID = env.string("ATALAIA_OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env.string("ATALAIA_OIDC_CLIENT_SECRET")  # or ..._SECRET_FILE
OIDC_SCOPES = env.string("ATALAIA_OIDC_SCOPES", "openid profile email").replace(",", " ").split()
# The claim whose value names the new account (an account is found by issuer and subject,
# never by this name or the e-mail address alone).
OIDC_USERNAME_CLAIM = env.string("ATALAIA_OIDC_USERNAME_CLAIM", "preferred_username")
# The claim holding groups or roles (a dotted path reaches into objects, as Keycloak's
# realm_access.roles), and what its values map to: "group=role,group=role". The highest
# mapped role wins; nobody mapped gets the default role ("none": they are refused).
OIDC_ROLE_CLAIM = env.string("ATALAIA_OIDC_ROLE_CLAIM", "groups")
OIDC_ROLE_MAP = dict(
    pair.partition("=")[::2] for pair in env.string_list("ATALAIA_OIDC_ROLE_MAP", []))
OIDC_DEFAULT_ROLE = env.string("ATALAIA_OIDC_DEFAULT_ROLE", "viewer")
# true: a person the provider vouches for gets an account at the first sign-in;
# false: only accounts an admin made beforehand (with the same username) may sign in.
OIDC_CREATE_ACCOUNTS = env.boolean("ATALAIA_OIDC_CREATE_ACCOUNTS", True)
# Each call to the provider (discovery, keys, token) gives up after this long.
OIDC_TIMEOUT_SECONDS = env.number("ATALAIA_OIDC_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# Password sign-in off for everybody but the break-glass admin (a local account that
# still works when the provider is down; it keeps its password and two-factor).
SSO_ONLY = env.boolean("ATALAIA_SSO_ONLY", False)
BREAK_GLASS_ADMIN = env.string("ATALAIA_BREAK_GLASS_ADMIN")
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured("ATALAIA_OIDC_ISSUER is set: ATALAIA_OIDC_CLIENT_ID and "
                               "ATALAIA_OIDC_CLIENT_SECRET (or _FILE) are required too")
if SSO_ONLY and not OIDC_ISSUER:
    raise ImproperlyConfigured("ATALAIA_SSO_ONLY needs ATALAIA_OIDC_ISSUER: nobody could "
                               "sign in otherwise")
if any(not group or not role for group, role in OIDC_ROLE_MAP.items()):
    raise ImproperlyConfigured("ATALAIA_OIDC_ROLE_MAP: expected group=role,group=role")
AUTHENTICATION_BACKENDS = ["atalaia.accounts.sso.PasswordBackend"]
if OIDC_ISSUER:
    # Logging out goes on to the provider's end-session page; the policy's form-action
    # also covers where the logout form's answer redirects to.
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(env.origin("ATALAIA_OIDC_ISSUER"))
