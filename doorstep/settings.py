"""Doorstep settings. Everything that differs between machines comes from the
environment, with defaults that are safe for a single school on one machine."""
import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DOORSTEP_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or os.environ.get("DOORSTEP_ALLOW_INSECURE_KEY"):
        SECRET_KEY = "insecure-development-key-do-not-use-in-production"
    else:
        # A missing key must never silently fall back to a public one outside
        # development: derive a per-installation key kept beside the database.
        key_file = VAR_DIR / "secret_key"
        if key_file.exists():
            SECRET_KEY = key_file.read_text().strip()
        else:
            import secrets

            VAR_DIR.mkdir(parents=True, exist_ok=True)
            SECRET_KEY = secrets.token_urlsafe(50)
            key_file.write_text(SECRET_KEY)
            key_file.chmod(0o600)

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "rules",
    "schools",
    "people",
    "pupils",
    "attendance",
    "policies",
    "risk",
    "visits",
    "safety.checkins",
    "safety.alerts",
    "safety.readiness",
    "notify",
    "reports",
    "audit",
    "api",
    # django-ninja as an app only so that /api/docs serves Swagger UI from the installed package
    # (its static files) rather than from a CDN, which the Content-Security-Policy refuses.
    "ninja",
    "hooks",
    # Sign-in (docs/security.md, "Sign-in"): one-time codes (django-otp), lock-out (django-axes), API tokens.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "accounts",
    "retention",
    # The live sync of pupils, contacts and attendance from the school's MIS through Wonde (docs/mis-sync.md).
    "mis",
    # From an empty installation to a school: the trust, its schools, their set-up checklists (docs/setup.md).
    "setup",
    # The project itself: the home page, the demo loader and the commands that run everything.
    "doorstep",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before anything reads a body (the CSRF check and the NUL check parse forms): an
    # over-large request is refused from its stated length, and only a signed-in person gets a
    # file page's larger limit.
    "doorstep.middleware.RequestSizeLimitMiddleware",
    "doorstep.middleware.RejectNulMiddleware",  # NUL in any input: a clear 400, not a database error
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "accounts.middleware.TokenUseMiddleware",
    "accounts.middleware.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Its process_exception sees every view's error: a record number too large for any
    # column is a 400 in every view, not a server error.
    "doorstep.middleware.OutOfRangeNumberMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lock-out into its page
]

ROOT_URLCONF = "doorstep.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "doorstep" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "people.context_processors.current_school",
            ],
        },
    },
]

WSGI_APPLICATION = "doorstep.wsgi.application"

# SQLite by default (nothing to install); PostgreSQL through DATABASE_URL.
# With no DATABASE_URL but PGHOST set (as pg_virtualenv does), use those PG* variables.
_default_sqlite = f"sqlite:///{VAR_DIR / 'doorstep.sqlite3'}"
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
elif os.environ.get("DOORSTEP_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "doorstep"),
            "USER": os.environ.get("PGUSER", ""),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", ""),
            "PORT": os.environ.get("PGPORT", ""),
        }
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its directory
    DATABASES = {"default": dj_database_url.parse(_default_sqlite)}

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL and a busy timeout let the web process and the workers share one file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "transaction_mode": "IMMEDIATE"}
    )
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("DOORSTEP_TEST_SQLITE", "")} if os.environ.get("DOORSTEP_TEST_SQLITE") else {}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes' lock-out check first, then Django's own (accounts.backends; docs/security.md,
# "Lock-out after repeated failures").
AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2 for every password stored; the others only to check (and then upgrade) old hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or env_bool("DOORSTEP_PLAIN_STATIC")
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# Sessions (docs/security.md "Sessions that end", accounts.middleware.SessionLifetimeMiddleware): signed out after
# DOORSTEP_IDLE_TIMEOUT without a request (the phone pages of a visit under way allow
# DOORSTEP_VISIT_IDLE_TIMEOUT: a visit keeps the phone in a pocket), and after
# DOORSTEP_SESSION_MAX_AGE whatever happens. Changing the password ends other sessions.
DOORSTEP_IDLE_TIMEOUT = int(os.environ.get("DOORSTEP_IDLE_TIMEOUT", 30 * 60))
DOORSTEP_VISIT_IDLE_TIMEOUT = int(os.environ.get("DOORSTEP_VISIT_IDLE_TIMEOUT", 4 * 60 * 60))
DOORSTEP_SESSION_MAX_AGE = int(os.environ.get("DOORSTEP_SESSION_MAX_AGE", 10 * 60 * 60))
SESSION_COOKIE_AGE = DOORSTEP_SESSION_MAX_AGE
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No camera, microphone, payment or the like for any page (accounts.middleware.SecurityHeadersMiddleware).
# Geolocation stays with this site: a phone page may one day offer "share where I am".
PERMISSIONS_POLICY = "camera=(), microphone=(), payment=(), usb=(), interest-cohort=(), geolocation=(self)"
if env_bool("DOORSTEP_HTTPS", not DEBUG and "127.0.0.1" not in ALLOWED_HOSTS[:1]):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- Delivery of messages: the notify app and `doorstep deliver` (docs/notifications.md) ---
# Safe for development by default: texts and emails are written to the log, nothing leaves.
# Links in SMS and email point here.
DOORSTEP_BASE_URL = os.environ.get("DOORSTEP_BASE_URL", "http://127.0.0.1:8000")
# SMS providers in fallback order, comma-separated: console | notify | twilio (e.g. "notify,twilio").
DOORSTEP_SMS_PROVIDERS = [
    p.strip().lower() for p in os.environ.get("DOORSTEP_SMS_PROVIDER", "console").split(",") if p.strip()
]
DOORSTEP_SMS_ATTEMPTS_PER_PROVIDER = int(os.environ.get("DOORSTEP_SMS_ATTEMPTS_PER_PROVIDER", 2))
DOORSTEP_DELIVERY_MAX_AGE = int(os.environ.get("DOORSTEP_DELIVERY_MAX_AGE", 3600))  # seconds before giving up
DOORSTEP_PROVIDER_TIMEOUT = float(os.environ.get("DOORSTEP_PROVIDER_TIMEOUT", 10))  # seconds per provider call
# GOV.UK Notify: an API key and an SMS template whose whole content is ((body)).
NOTIFY_API_KEY = os.environ.get("NOTIFY_API_KEY", "")
NOTIFY_SMS_TEMPLATE_ID = os.environ.get("NOTIFY_SMS_TEMPLATE_ID", "")
NOTIFY_BASE_URL = os.environ.get("NOTIFY_BASE_URL", "https://api.notifications.service.gov.uk")
# Wonde, which reads the school's MIS (docs/mis-sync.md): where its API is (tests point it at a local fake).
WONDE_BASE_URL = os.environ.get("WONDE_BASE_URL", "https://api.wonde.com/v1.0")
WONDE_TIMEOUT = float(os.environ.get("WONDE_TIMEOUT", 30))  # seconds per page
# The key that encrypts secrets kept in the database (a school's Wonde token). Empty: derived from
# SECRET_KEY, so changing SECRET_KEY then means entering the tokens again (docs/mis-sync.md).
DOORSTEP_ENCRYPTION_KEY = os.environ.get("DOORSTEP_ENCRYPTION_KEY", "")
# Twilio: account SID, auth token and the sending number (E.164) or messaging service sender.
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM = os.environ.get("TWILIO_FROM", "")
TWILIO_BASE_URL = os.environ.get("TWILIO_BASE_URL", "https://api.twilio.com")
# The caller id of phone calls from the escalation ladder (a step with ring = true); TWILIO_FROM if unset.
TWILIO_VOICE_FROM = os.environ.get("TWILIO_VOICE_FROM", "")
# The token GOV.UK Notify sends with its inbound-SMS callback (set the same in Notify's settings).
NOTIFY_CALLBACK_TOKEN = os.environ.get("NOTIFY_CALLBACK_TOKEN", "")
# The school's Doorstep number: staff with no mobile data text OK, LEFT, SAFE or HELP to it
# (safety.texts; shown on the phone's visit page and the briefing). Empty: not offered.
DOORSTEP_SMS_NUMBER = os.environ.get("DOORSTEP_SMS_NUMBER", "")
# Email over SMTP once EMAIL_HOST is set; until then Django's console backend prints it.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 587))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", os.environ.get("EMAIL_USER", ""))
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", os.environ.get("EMAIL_PASSWORD", ""))
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
EMAIL_TIMEOUT = DOORSTEP_PROVIDER_TIMEOUT
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Doorstep <doorstep@localhost>")

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    # A calendar feed's secret address is cut out of every line Django writes about a request.
    "filters": {"hide_secrets": {"()": "doorstep.logs.HideSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["hide_secrets"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Permissions: django-rules answers user.has_perm("doorstep.<action>", obj) and the admin's
# per-object checks from people.permissions, the one place roles are decided. Added to
# whatever backends are set above (sign-in may add its own).
AUTHENTICATION_BACKENDS = [
    *globals().get("AUTHENTICATION_BACKENDS", ["django.contrib.auth.backends.ModelBackend"]),
    "rules.permissions.ObjectPermissionBackend",
]

# --- Sign-in (docs/security.md, "Sign-in") ---
# Lock-out: 5 failed passwords for one username from one address locks that pair for 30
# minutes (django-axes, in the database so every web process agrees). Unlock early with
# `doorstep unlock USERNAME` or the Django admin's "Access attempts".
import datetime as _datetime  # noqa: E402 - beside the sign-in settings that use it

AXES_FAILURE_LIMIT = int(os.environ.get("DOORSTEP_LOCKOUT_FAILURES", 5))
AXES_COOLOFF_TIME = _datetime.timedelta(minutes=int(os.environ.get("DOORSTEP_LOCKOUT_MINUTES", 30)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
LOGGING["loggers"] = {**LOGGING.get("loggers", {}), "axes": {"level": "WARNING"}}  # not a line per sign-in
# Two-factor sign-in: the name authenticator apps show, and django-otp's own throttle
# (each wrong code doubles the wait before that device accepts another).
OTP_TOTP_ISSUER = "Doorstep"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# The Django admin lists people's devices (to delete a lost one) but never shows their keys.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Content-Security-Policy (django-csp): scripts and styles only from Doorstep itself, never
# inline; nothing framed; forms post only here. data: images for the QR code and signatures.
from csp.constants import NONE, SELF  # noqa: E402 - beside the policy it writes

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "media-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
