"""MLflow's store: where runs go, checked before any work.

The tracking URI is ``MLFLOW_TRACKING_URI`` when set (a tracking server for clusters), else a
SQLite file ``mlflow.db`` in the working folder. Before any work (:func:`check_store`) the URI
is checked for what MLflow needs of it, so that a URI MLflow cannot use is refused in one line
naming it and the fix, in seconds, instead of a traceback or minutes of retries later:

- ``http(s)://HOST:PORT``: a well-formed address whose server answers ``/health`` and MLflow's
  REST API (a web server that is not MLflow is named as such; one that refuses the driver's
  credentials too) within the connection timeout; MLflow's own HTTP retries are bounded;
- ``sqlite:///FILE``: a SQLite database or a new file in a folder that can be written;
- a database URL (``postgresql://``, ``mysql://``, ``mssql://``): its SQLAlchemy driver is
  installed (else the one to install is named) and its host answers;
- ``databricks[://PROFILE]``: credentials are configured (environment or
  ``~/.databrickscfg``);
- ``file:///FOLDER`` or a folder: it can be written.

Every first use of a store in a process (tracking or registry, by any command) goes through
:func:`store_created`: an exclusive lock of a SQLite store's file, so that commands starting
together on a fresh store do not race to create its tables (``table … already exists``,
Alembic's "expected to match one row").
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import json
import math
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_writable
from harness.runtime.locks import first_use
from harness.runtime.settings import ENV_MLFLOW_URI

DEFAULT_DB = "mlflow.db"
SQLITE_HEADER = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file."""
_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
_DATABASES = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
"""Database URL schemes MLflow stores runs in, and their default ports."""
_DRIVERS = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
    "pyodbc": "pyodbc",
}
"""A SQLAlchemy driver module and the package that installs it."""
_EXPECTED = (
    "http(s)://HOST:PORT, sqlite:///FILE, file:///FOLDER, a folder, a database URL "
    "(postgresql://, mysql://, mssql://) or databricks[://PROFILE]"
)


def tracking_uri() -> str:
    """The tracking URI in force: the environment's, else the SQLite file in the working folder."""
    return os.environ.get(ENV_MLFLOW_URI) or f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def _scheme(uri: str) -> str:
    """The URI's scheme without its driver (``postgresql+psycopg2`` → ``postgresql``), lower
    case; ``""`` for a plain path."""
    found = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)(:|$)", uri)
    if found is None or (not found.group(2) and uri not in ("databricks", "databricks-uc")):
        return ""
    return found.group(1).split("+")[0].lower()


def _refuse(uri: str, why: str) -> HarnessError:
    return HarnessError(f"{ENV_MLFLOW_URI} {uri!r:.200}: {why}")


def check_store(timeout: float) -> None:
    """The tracking store in force is one MLflow can use, answers and can be written.

    Raises:
        HarnessError: naming ``MLFLOW_TRACKING_URI``, what is wrong and the fix.
    """
    uri = tracking_uri()
    for name, value in _HTTP_LIMITS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, math.ceil(timeout))))
    check_tracking_uri(uri)
    scheme = _scheme(uri)
    if scheme in ("http", "https"):
        _check_server(uri, timeout=timeout)
    elif scheme in _DATABASES:
        _check_database(uri, timeout=timeout)


def check_tracking_uri(uri: str) -> Path | None:
    """Refuse a tracking URI that MLflow cannot use, from its text and the local files alone
    (no connection). Returns the SQLite file of a ``sqlite:///`` URI.

    Raises:
        HarnessError: naming ``MLFLOW_TRACKING_URI``, what came and what is expected.
    """
    if not uri.isprintable():
        raise _refuse(uri, "holds a control character (a newline?); expected " + _EXPECTED)
    scheme = _scheme(uri)
    if scheme in ("http", "https"):
        _split_server(uri)
        return None
    if scheme in _DATABASES:
        _database_url(uri)
        return None
    if scheme == "databricks-uc":
        raise _refuse(uri, "a model registry's URI (MLFLOW_REGISTRY_URI), not a tracking "
                           "store's: use databricks[://PROFILE]")  # fmt: skip
    if scheme == "databricks":
        _check_databricks(uri)
        return None
    if scheme == "sqlite":
        return _sqlite_file(uri)
    if scheme == "file" or (not scheme and "://" not in uri):
        folder = Path(urllib.parse.urlsplit(uri).path if scheme else uri)
        check_writable(folder, option=f"{ENV_MLFLOW_URI}'s folder")
        _check_file_store_allowed(uri)
        return None
    raise _refuse(uri, f"expected {_EXPECTED}")


def _sqlite_file(uri: str) -> Path:
    rest = uri[len("sqlite:") :]
    if not rest.startswith("///") or rest == "///" or "?" in rest:
        raise _refuse(
            uri,
            "expected sqlite:///FILE (three slashes, then the file: sqlite:///mlflow.db here, "
            "sqlite:////abs/path/mlflow.db for an absolute path; no ?options)",
        )
    path = Path(rest[3:])
    option = f"{ENV_MLFLOW_URI}'s database"
    if path.exists():
        if not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file"
            raise HarnessError(f"{option} {str(path)!r} is {kind}; expected a SQLite file")
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            raise HarnessError(
                f"{option} {str(path)!r} is not a SQLite database: point "
                f"{ENV_MLFLOW_URI} at an MLflow database or a new file"
            )
    return check_writable(path, option=option, folder=False)


def _check_file_store_allowed(uri: str) -> None:
    """MLflow 3 keeps its folder store in maintenance mode and refuses it unless told."""
    from mlflow import environment_variables

    allowed = getattr(environment_variables, "MLFLOW_ALLOW_FILE_STORE", None)
    if allowed is not None and not allowed.get():
        raise _refuse(
            uri,
            "a folder store, which this MLflow keeps in maintenance mode: use "
            f"sqlite:///{DEFAULT_DB} (`mlflow migrate-filestore` moves a folder's runs there), "
            "or export MLFLOW_ALLOW_FILE_STORE=true to use the folder anyway",
        )


def _split_server(uri: str) -> tuple[str, int]:
    """The host and port of a tracking server's URI; a malformed one is refused."""
    try:
        parts = urllib.parse.urlsplit(uri)
        port, host = parts.port, parts.hostname or ""
    except ValueError:  # a bad port or IPv6 address
        port, host = -1, ""
    if port == -1 or not re.fullmatch(r"[A-Za-z0-9._:-]+", host) or parts.query:
        raise _refuse(uri, "expected http(s)://HOST[:PORT][/PREFIX] with a host name or address "
                           "and a port in 1..65535")  # fmt: skip
    return host, port or (443 if uri.lower().startswith("https") else 80)


def _auth_headers() -> dict[str, str]:
    """The credentials MLflow's client would send (basic auth, or a bearer token)."""
    user, password = (os.environ.get(f"MLFLOW_TRACKING_{k}") for k in ("USERNAME", "PASSWORD"))
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {"Authorization": f"Bearer {token}"} if token else {}


def _check_server(uri: str, *, timeout: float) -> None:
    """The server answers ``/health`` and MLflow's REST API (an experiment lookup, which every
    MLflow server answers in JSON: the experiment, or the error that it does not exist)."""
    base = uri.rstrip("/")
    health = base + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _refuse(
            uri,
            f"the MLflow tracking server does not answer {health} within {timeout:g} s "
            f"({reason}): start it, or fix {ENV_MLFLOW_URI} (unset it to log to ./{DEFAULT_DB}),"
            " or raise --timeout / HAZARD_HARNESS_TIMEOUT",
        ) from None
    api = base + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
    request = urllib.request.Request(api, headers=_auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read(1 << 16)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(1 << 16)
    except (OSError, ValueError) as exc:
        raise _refuse(uri, f"{api} does not answer within {timeout:g} s ({exc})") from None
    if status in (401, 403):
        raise _refuse(
            uri,
            f"the tracking server refuses this driver (HTTP {status}): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN",
        )
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not ({"experiment", "error_code"} & answer.keys()):
        raise _refuse(
            uri,
            f"answers /health but is not an MLflow tracking server (HTTP {status} from its REST "
            "API at /api/2.0/mlflow/…): give the address `mlflow server` listens on",
        )


def _database_url(uri: str) -> tuple[str | None, int]:
    """A database URL's host and port, once its SQLAlchemy driver imports (else refused)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(uri)
        dialect = url.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise _refuse(uri, f"not a database URL SQLAlchemy reads ({exc})") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = (exc.name or str(exc)).split(".")[0]
        package = _DRIVERS.get(module, module)
        raise _refuse(
            uri,
            f"its database driver {module!r} is not installed here: pip install {package} (or "
            "name an installed driver in the URL, e.g. postgresql+psycopg://)",
        ) from None
    return url.host, url.port or _DATABASES[_scheme(uri)]


def _check_database(uri: str, *, timeout: float) -> None:
    host, port = _database_url(uri)
    if not host:  # a local socket: the database's own client reports it
        return
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise _refuse(
            uri,
            f"the database at {host}:{port} does not answer within {timeout:g} s ({exc}): start "
            "it, or fix the URL",
        ) from None


def _check_databricks(uri: str) -> None:
    """Databricks credentials exist: the environment's, or the URI's profile in
    ``~/.databrickscfg`` (``DATABRICKS_CONFIG_FILE``)."""
    if os.environ.get("DATABRICKS_HOST") and (
        os.environ.get("DATABRICKS_TOKEN") or os.environ.get("DATABRICKS_CLIENT_SECRET")
    ):
        return
    profile = uri.partition("://")[2].split("/")[0] or os.environ.get(
        "DATABRICKS_CONFIG_PROFILE", "DEFAULT"
    )
    config = Path(os.environ.get("DATABRICKS_CONFIG_FILE", "~/.databrickscfg")).expanduser()
    parser = configparser.ConfigParser()
    with contextlib.suppress(OSError, configparser.Error):
        parser.read(config)
    if parser.has_option(profile, "host") or (profile == "DEFAULT" and "host" in parser.defaults()):
        return
    raise _refuse(
        uri,
        f"no Databricks credentials: export DATABRICKS_HOST and DATABRICKS_TOKEN, or add a "
        f"[{profile}] profile with host and token to {config} (`databricks configure`)",
    )


@contextlib.contextmanager
def store_created(uri: str) -> Iterator[None]:
    """Hold a ``sqlite:///`` store's file lock while the block first uses it (creating its
    tables: :func:`harness.runtime.locks.first_use`); other stores: no lock."""
    database = check_tracking_uri(uri)
    if database is None:
        yield
        return
    with first_use(database):
        yield
