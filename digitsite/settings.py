"""Settings for Digit Recognizer, read from the environment.

Defaults make a fresh checkout run (DEBUG on, SQLite next to manage.py, local-memory
cache). Production sets DJANGO_DEBUG=0, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS,
DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-dev-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "recognizer",
    "recognizer.lifecycle",  # model versions and training jobs (issue 26), on django-tasks' database queue
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "recognizer.metrics.MetricsMiddleware",  # first: times and counts every answer (issue 16)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "recognizer.page_messages.PageMessageMiddleware",  # Django's MessageMiddleware, skipped under /api/
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "recognizer.csp.ContentSecurityPolicyMiddleware",  # CSP on HTML pages: no inline script (issue 15)
    "recognizer.unavailable.ServiceUnavailableMiddleware",  # database/Redis unreachable: 503, not 500
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into recognizer.logins.lockout's 429
]

# Failed logins (admin form, API token) locked out per client address and per username at that address, never per
# username alone; guessing one username from many addresses is slowed down instead (django-axes, counted in the
# database so it holds when Redis is down). recognizer/logins.py answers a lockout and slows the guessing.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "recognizer.logins.UsernameSlowDown",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = "recognizer.logins.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "recognizer.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "recognizer.logins.lockout"
AXES_RESET_ON_SUCCESS = True
# An attempt refused during a lockout or a slow-down is not recorded: it neither counts nor pushes the wait back.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False

ROOT_URLCONF = "digitsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "digitsite.wsgi.application"

# SQLite file in the project folder unless DATABASE_URL says otherwise (postgres://...).
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that polls the socket instead of a SELECT 1 round trip per request,
    # falling back to SELECT 1 whenever the server has said anything (recognizer/postgres/base.py, issue 17).
    DATABASES["default"]["ENGINE"] = "recognizer.postgres"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout keep several threads writing without "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        }
    )
    # A file (not :memory:) so live-server browser tests and threads share the test database.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(BASE_DIR / "test-db.sqlite3"))

# Cache: CACHE_URL or REDIS_URL (redis://...), else local memory.
CACHE_URL = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL") or ""
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "digits"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # Fail fast when Redis is down or unreachable: the rate limits fall back per process.
                "SOCKET_CONNECT_TIMEOUT": float(os.environ.get("REDIS_CONNECT_TIMEOUT", "0.5")),
                "SOCKET_TIMEOUT": float(os.environ.get("REDIS_TIMEOUT", "0.5")),
            },
        }
    }
elif CACHE_URL in ("", "locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL/REDIS_URL must be redis://... or locmem://, got {CACHE_URL!r}")

# Sessions in the database only: just staff have one (the drawing page uses a signed cookie), and cached_db
# answers 500 when Redis is down (it writes the cache after a database read, unguarded).
SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "admin:login"

# Security for production (DEBUG off); check --deploy passes with these.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Probes and the Prometheus scraper talk plain http to the upstream: their paths are never redirected to https.
    SECURE_REDIRECT_EXEMPT = [
        r"^healthz$",
        r"^readyz$",
        r"^v2/health/(?:live|ready)$",
        r"^v2/models/[^/]+/ready$",
        r"^metrics$",
    ]
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    # Both bind every subdomain / get baked into browsers for months: the deployment opts in.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
    # check --deploy warns when they are off; off is the deliberate default (README, production table).
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Models and data.
MODELS_DIR = Path(os.environ.get("MODELS_DIR", BASE_DIR / "models"))
# Weights trained by the product (issue 26): outside the checkout's models/, never committed.
MODEL_STORE_DIR = Path(os.environ.get("MODEL_STORE_DIR", BASE_DIR / "var" / "models"))
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "training"]}}
# MNIST is found by recognizer.ml.datasets (MNIST_DIR, ../shared/data/mnist, the Keras cache, a download): the ML
# core reads no Django settings, so MNIST_DIR is an environment variable only, not a setting here.

# Uploads: the largest predict body we accept (bytes); larger gets 413.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 64 * 1024
# Pixels an image may have (checked from its header, before decoding): a canvas needs far less than 4 megapixels.
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 4_000_000)
# Batches (/api/predict/batch/, /v2/ infer, /v1/ predict): at most this many images, and a body of this many bytes.
MAX_BATCH_IMAGES = env_int("MAX_BATCH_IMAGES", 64)
MAX_BATCH_BYTES = env_int("MAX_BATCH_BYTES", 8 * 1024 * 1024)
# Pixels a whole request may hold, summed from the headers before decoding: one client's batch may not buy seconds of
# CPU (64 canvas drawings of 280x280 are 5 megapixels).
MAX_BATCH_PIXELS = env_int("MAX_BATCH_PIXELS", 16_000_000)
# Who may read /metrics besides loopback: addresses or networks, comma-separated (e.g. 10.0.0.5,10.1.0.0/16).
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", [])

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "recognizer.api.authentication.AxesTokenAuthentication",  # no Basic auth: see api/authentication.py
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_PARSER_CLASSES": [  # JSON with bounded depth and size (api/parsers.py)
        "recognizer.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "recognizer.api.pagination.Pagination",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "recognizer.api.negotiation.LenientNegotiation",
    "EXCEPTION_HANDLER": "recognizer.api.errors.api_exception_handler",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50),
    # Proxies in front that append to X-Forwarded-For (nginx in deploy/: 1); 0 trusts no header (clientip.py).
    "NUM_PROXIES": env_int("TRUSTED_PROXIES", 0),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "predict_anon": os.environ.get("PREDICT_RATE_ANON", "60/min"),
        "predict_user": os.environ.get("PREDICT_RATE_USER", "600/min"),
        "feedback": os.environ.get("FEEDBACK_RATE", "120/min"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Digit Recognizer API",
    "DESCRIPTION": "Draw a digit, get two models' answers, label and export the drawings.",
    "VERSION": "1.0.0",
    # Operation ids and tags stay as they were now that /v2/ and /v1/ paths are in the schema too.
    "SCHEMA_PATH_PREFIX": r"/api/",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two sets of sources: what a drawing may hold, and the two a client of /api/predict/ may name.
    "ENUM_NAME_OVERRIDES": {
        "SourceEnum": "recognizer.models.Drawing.Source",
        "ClientSourceEnum": "recognizer.api.serializers.CLIENT_SOURCES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
