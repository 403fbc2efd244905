"""The one settings module. Everything comes from the environment, with embedded defaults.

Defaults give a working product on a fresh machine: SQLite and a filesystem Celery broker under
`var/`, DEBUG on. Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, SITE_URL (https),
DATABASE_URL and CELERY_BROKER_URL; `manage.py check --deploy` is then clean.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    )


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", True)
_DEV_SECRET = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
SECRET_KEY_FALLBACKS = envlist("SECRET_KEY_FALLBACKS", "")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
# Unset, it follows the port `make run` serves on (PORT), so links in test mail lead back here.
SITE_URL = (
    os.environ.get("SITE_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"
).rstrip("/")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", SITE_URL)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "anymail",
    "axes",
    "crm",
    "targetlists",
    "campaigns",
    "tracking",
    "people",
    "automation",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from STATIC_ROOT (no CDN)
    "webhooks",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "crm.security_headers.ContentSecurityPolicyMiddleware",
    # Every refusal under /api/ (a 404 of Django's, a 413, a 500) as application/problem+json.
    "api.middleware.ProblemDetailsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.request_checks.RefuseNulMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.development",
                "crm.security_headers.nonce",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder.
    # WAL and a busy timeout let the web server, worker and beat share one SQLite file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Login safety (django-axes): 5 failed logins for one user name, or from one client address, lock
# that user name or address out for 15 minutes (counted while failures keep coming within 15
# minutes of each other). Administrators see and clear lockouts under Axes → Access attempts.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no "AXES: BEGIN" line on every command
AXES_LOCKOUT_CALLABLE = "crm.login_safety.lockout_response"
AXES_CLIENT_IP_CALLABLE = "crm.login_safety.client_address"
AXES_USERNAME_CALLABLE = "crm.login_safety.client_username"
AXES_USERNAME_FORM_FIELD = "username"
# Proxies in front of the app that append the client's address to X-Forwarded-For (0: none,
# REMOTE_ADDR is the client).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
LOGIN_URL = "admin:login"
# The text of one form (files not counted) may be this big: room for large email templates;
# beyond it the sender gets the 413 page (crm.error_pages) instead of Django's bare 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("FORM_MAX_MEGABYTES", 10) * 1024 * 1024
# Images uploaded from the visual email builder (campaigns.authoring.images) may be this big.
BUILDER_IMAGE_MAX_MEGABYTES = envint("BUILDER_IMAGE_MAX_MEGABYTES", 2)
# Content-Security-Policy changes for views defined elsewhere, by URL name (crm.security_headers).
CONTENT_SECURITY_POLICY_VIEWS = {
    # The preview's sandboxed srcdoc frame inherits the page's policy: the email's own inline
    # styles and remote images must show (scripts stay off: the frame has no allow-scripts).
    "admin:crm_emailtemplate_preview": {
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:", "http:"],
    },
    # The template form alone (add and change) holds the visual builder, GrapesJS: it adds
    # <style> elements without a nonce to the page and to its canvas (an about:blank frame that
    # inherits this policy), and the canvas and the live preview's srcdoc frame show the email's
    # style block and its images wherever they are. No nonce in style-src (it would switch
    # 'unsafe-inline' off); scripts stay 'self' + nonce, so nothing else is relaxed.
    "admin:crm_emailtemplate_add": {
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:", "http:"],
    },
    "admin:crm_emailtemplate_change": {
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:", "http:"],
    },
}
# A form without its page's CSRF token gets a page in the look and language of where it went.
CSRF_FAILURE_VIEW = "crm.error_pages.csrf_failure"

# Signup forms (people.signup): how long a double opt-in link works, how long a rendered form
# may be posted, and how many submissions an hour one address and one client may make.
SIGNUP_CONFIRMATION_DAYS = envint("SIGNUP_CONFIRMATION_DAYS", 7)
SIGNUP_FORM_TOKEN_HOURS = envint("SIGNUP_FORM_TOKEN_HOURS", 24)
SIGNUP_RATE_PER_ADDRESS = envint("SIGNUP_RATE_PER_ADDRESS", 3)
SIGNUP_RATE_PER_CLIENT = envint("SIGNUP_RATE_PER_CLIENT", 20)
# The confirmation email is sent by a Celery task; a temporary SMTP failure (server down, 4xx) is
# tried again this many times, waiting RETRY seconds and doubling (1, 2, 4 … 32 minutes: about an
# hour in all). Keep the longest wait under Redis's visibility timeout (1 hour).
SIGNUP_CONFIRMATION_RETRIES = envint("SIGNUP_CONFIRMATION_RETRIES", 6)
SIGNUP_CONFIRMATION_RETRY_SECONDS = envint("SIGNUP_CONFIRMATION_RETRY_SECONDS", 60)

# CSV imports (people.imports): an import or undo whose worker has written nothing for this long
# is taken as stopped (its worker killed): its page offers Resume, and a redelivered task
# takes it up again where its last batch ended.
IMPORT_STALLED_SECONDS = envint("IMPORT_STALLED_SECONDS", 300)
# On PostgreSQL, this many threads write an import's batches at once, each on its own connection.
IMPORT_WRITERS = envint("IMPORT_WRITERS", 2)

# Outbound mail for system messages; mass email uses the SMTP settings stored in the database.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = envint("EMAIL_PORT", 1025)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "marketing@example.com")
SMTP_CAPTURE_DIR = VAR_DIR / "mail"
SMTP_TIMEOUT = envint("SMTP_TIMEOUT", 15)
IMAP_TIMEOUT = envint("IMAP_TIMEOUT", 30)
# Sending (docs/delivery.md): a claim older than the lease belongs to a worker that died; a
# deferred message waits RETRY seconds, doubling up to RETRY_MAX; a domain deferring this many
# messages in a run waits for a later run; a run reopens a server that dropped it this often.
MASS_EMAIL_SENDING_LEASE_SECONDS = envint("MASS_EMAIL_SENDING_LEASE_SECONDS", 900)
# An automation enrolment claimed by a worker that died is taken up again after this.
AUTOMATION_LEASE_SECONDS = envint("AUTOMATION_LEASE_SECONDS", 600)
MASS_EMAIL_RETRY_SECONDS = envint("MASS_EMAIL_RETRY_SECONDS", 600)
MASS_EMAIL_RETRY_MAX_SECONDS = envint("MASS_EMAIL_RETRY_MAX_SECONDS", 21600)
MASS_EMAIL_DOMAIN_DEFERRALS_PER_RUN = envint("MASS_EMAIL_DOMAIN_DEFERRALS_PER_RUN", 3)
MASS_EMAIL_RECONNECTS_PER_RUN = envint("MASS_EMAIL_RECONNECTS_PER_RUN", 10)
# A run asks idle workers to help it (campaigns.sending.job); off: each run sends alone.
MASS_EMAIL_HAND_OUT = envbool("MASS_EMAIL_HAND_OUT", True)
# One run of "Check Group Email Accounts" reads new messages for at most this long; the
# rest waits for the next run (tracking.mailboxes).
BOUNCE_CHECK_SECONDS = envint("BOUNCE_CHECK_SECONDS", 600)

# ESP webhooks (tracking.esp): anymail's settings from the environment, ANYMAIL_<NAME> as
# ANYMAIL["<NAME>"], e.g. ANYMAIL_WEBHOOK_SECRET ("user:password" the ESP posts with, required
# to mount /anymail/) and ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY.
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_") and value
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")


def filesystem_broker_options(var_dir: Path) -> dict:
    """kombu's filesystem transport options for folders under `var_dir`, which it creates."""
    # The transport expects its folders to exist; every process may start first.
    for folder in (var_dir / "broker", var_dir / "broker-control"):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(var_dir / "broker"),
        "data_folder_out": str(var_dir / "broker"),
        "control_folder": str(var_dir / "broker-control"),
    }


if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# Opens and clicks are buffered in this Redis and recorded in batches (tracking.buffer); empty:
# each is written to the database in its request.
_BROKER_REDIS = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
TRACKING_BUFFER_URL = os.environ.get("TRACKING_BUFFER_URL", _BROKER_REDIS)
TRACKING_BUFFER_SIZE = envint("TRACKING_BUFFER_SIZE", 200)
TRACKING_BUFFER_SECONDS = envint("TRACKING_BUFFER_SECONDS", 1)
# A web process gathers its hits for this long and sends them to Redis in one command; 0: each
# hit is sent in its request.
TRACKING_BUFFER_FLUSH_MS = envint("TRACKING_BUFFER_FLUSH_MS", 50)
# Prefix of the buffer's Redis keys, for installations that share one Redis database.
TRACKING_BUFFER_KEY_PREFIX = os.environ.get("TRACKING_BUFFER_KEY_PREFIX", "massmail:tracking")
# Where every worker takes its messages-per-second slots (campaigns.sending.rate): this Redis,
# else PostgreSQL.
SENDING_RATE_REDIS_URL = os.environ.get("SENDING_RATE_REDIS_URL", _BROKER_REDIS)
SENDING_RATE_KEY_PREFIX = os.environ.get("SENDING_RATE_KEY_PREFIX", "massmail:sending-rate:")

# The REST API (api/, docs/api.md): keys, scopes, problem+json errors, cursors, idempotency.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "api.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ScopePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["api.rate_limit.KeyRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JsonParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mass Email API",
    "DESCRIPTION": (
        "People, target lists, templates, campaigns, mass emails, results and events of the "
        "mass-email module. Send `Authorization: Bearer <key>`; errors are RFC 9457 "
        "problem details with a stable `code`. Guide: docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "displayOperationId": True},
    "ENUM_NAME_OVERRIDES": {
        "LeadStatusEnum": "crm.models.Lead.Status",
        "JobStatusEnum": "api.models.Job.Status",
        "CampaignStatusEnum": "campaigns.models.campaign.CampaignStatus",
        "CampaignTypeEnum": "campaigns.models.campaign.CampaignType",
        "MassEmailStatusEnum": "campaigns.models.MassEmail.Status",
        "MemberTypeEnum": [("account", "account"), ("contact", "contact"), ("lead", "lead")],
        "RecipientTypeEnum": [
            ("account", "account"),
            ("contact", "contact"),
            ("lead", "lead"),
            ("user", "user"),
        ],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_problem_responses",
    ],
}
# Requests per minute one API key may make (a token bucket of that size, refilled evenly),
# shared by every web process through this Redis (default: the broker's, if Redis), else
# through the database.
API_RATE_PER_MINUTE = envint("API_RATE_PER_MINUTE", 600)

# Webhooks (webhooks/, docs/api.md). Endpoints must be https unless DEBUG or this allows http;
# their host's addresses are checked at connect time, and private, loopback and link-local
# ones refused unless one of these networks (CIDRs, e.g. 127.0.0.0/8 in development) has them.
WEBHOOK_ALLOW_HTTP = envbool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_ALLOWED_NETWORKS = envlist("WEBHOOK_ALLOWED_NETWORKS", "")
WEBHOOK_TIMEOUT_SECONDS = envint("WEBHOOK_TIMEOUT_SECONDS", 10)
# Deliveries sent at once by one worker (threads), each to another person or endpoint.
WEBHOOK_CONCURRENCY = envint("WEBHOOK_CONCURRENCY", 16)
API_REDIS_URL = os.environ.get("API_REDIS_URL", _BROKER_REDIS)
API_REDIS_KEY_PREFIX = os.environ.get("API_REDIS_KEY_PREFIX", "massmail:api")
# The largest JSON body the API reads (a 100,000-address list call is about 4 MB), and the
# largest CSV file an import may upload through it.
API_MAX_BODY_MEGABYTES = envint("API_MAX_BODY_MEGABYTES", 20)
API_MAX_UPLOAD_MEGABYTES = envint("API_MAX_UPLOAD_MEGABYTES", 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "mail.log": {"level": "WARNING"},  # aiosmtpd (the SMTP capture) logs every command.
        "axes": {"level": "WARNING"},  # failures and lockouts, not every check it makes
    },
}

if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
