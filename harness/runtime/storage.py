"""Where folders live: a local path or an object-storage URI, through one filesystem layer.

Every folder a command reads or writes in bulk — the cache (``--cache``), a records folder
(SOURCE, ``records export --out``) and ``run``/``tune --out`` — is a :class:`Location`: a path on
a ``pyarrow.fs`` filesystem. ``s3://bucket/prefix`` (and ``gs://``, ``abfs://``, ``file://``)
names object storage; anything else is a local path. Parquet is read and written directly on
the store (row groups and columns by range requests), nothing is copied to a local disk.

Configuration is the storage's standard one, never a URI's: for S3 the endpoint comes from
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (an S3-compatible server such as MinIO), the
region from ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (else asked of the bucket), credentials
from the AWS chain (``AWS_ACCESS_KEY_ID`` …, ``~/.aws``, the node's role). A URI that carries
credentials or options is refused, so a URI is safe to print, log and record. A Location
pickles as its URI: a Ray task builds its own filesystem from its node's configuration.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from harness.runtime.errors import HarnessError

SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "file")
"""URI schemes of the folders a command takes (pyarrow.fs's filesystems)."""
ENV_ENDPOINT = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
"""The AWS SDKs' variables naming an S3-compatible endpoint, most specific first."""
ENV_REGION = ("AWS_REGION", "AWS_DEFAULT_REGION")
SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_ACCOUNT_KEY")
"""Variables whose values never appear in a message (scrubbed if a library echoes them)."""
CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for an S3 endpoint to accept a connection (the SDK retries twice more)."""
MANIFEST = "_manifest.json"
"""Written last into an output on object storage: what it holds; it marks it complete."""
T = TypeVar("T")


class StorageError(HarnessError):
    """A location that cannot be used: one line naming the URI and why (never a secret)."""


def is_uri(value: object) -> bool:
    """Whether ``value`` names object storage or a ``file://`` URI (``scheme://…``)."""
    return isinstance(value, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value) is not None


@dataclass(frozen=True, eq=False)
class Location:
    """A file or folder on a filesystem: ``path`` on ``fs``, shown to users as ``uri``.

    Mirrors the few :class:`pathlib.Path` methods the harness writes with (``/``,
    ``read_bytes``, ``write_text`` …), so writers take a local folder or a Location alike.
    """

    uri: str
    """What the user gave (a local path or a URI without credentials), joined with ``/``."""
    path: str
    """The path on ``fs``."""
    fs: pafs.FileSystem = field(repr=False)

    def __reduce__(self) -> tuple[Callable[[str], Location], tuple[str]]:
        return location, (self.uri,)

    def __str__(self) -> str:
        return self.uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    @property
    def remote(self) -> bool:
        """Whether the location is on object storage (not the local filesystem)."""
        return not isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        uri, path = self.uri.rstrip("/"), self.path.rstrip("/")
        return Location(uri.rsplit("/", 1)[0], path.rsplit("/", 1)[0] or "/", self.fs)

    def __truediv__(self, name: str) -> Location:
        name = str(name).strip("/")
        return Location(f"{self.uri.rstrip('/')}/{name}", f"{self.path.rstrip('/')}/{name}",
                        self.fs)  # fmt: skip

    def relative(self, path: str) -> str:
        """``path`` (on this filesystem, under this location) relative to it."""
        return path[len(self.path.rstrip("/")) + 1 :]

    def _do(self, what: Callable[[], T]) -> T:
        try:
            return what()
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"{self.uri}: {reason(exc, self)}") from None

    def info(self) -> pafs.FileInfo:
        return self._do(lambda: self.fs.get_file_info(self.path))

    def exists(self) -> bool:
        return self.info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self.info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        return self.info().type == pafs.FileType.Directory

    def read_bytes(self) -> bytes:
        def read() -> bytes:
            with self.fs.open_input_stream(self.path) as f:
                return f.read()

        return self._do(read)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        """Write the whole object at once: a reader sees the old one or the new one, never a
        part (local: a temporary file renamed into place; object storage: one upload)."""
        if self.remote:

            def put() -> None:
                with self.fs.open_output_stream(self.path) as f:
                    f.write(data)

            self._do(put)
            return
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            self.mkdir_parent()
            with self.fs.open_output_stream(tmp) as f:
                f.write(data)
            self.fs.move(tmp, self.path)
        finally:
            if self.fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                self.fs.delete_file(tmp)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def open_input(self) -> pa.NativeFile:
        """A random-access file (Parquet reads fetch only the ranges they need)."""
        return self._do(lambda: self.fs.open_input_file(self.path))

    def open_output(self) -> pa.NativeFile:
        """A stream writing the object (for writers that stream, such as ``ParquetWriter``;
        use it where a half-written object is never read: inside a staging folder)."""
        self.mkdir_parent()
        return self._do(lambda: self.fs.open_output_stream(self.path))

    def mkdir_parent(self) -> None:
        """Create the parent folder (local; object storage has no folders)."""
        if not self.remote:
            self.fs.create_dir(self.parent.path, recursive=True)

    def files(self) -> list[pafs.FileInfo]:
        """Every file under this folder (recursively), sorted by path; none if it is absent."""
        selector = pafs.FileSelector(self.path, recursive=True, allow_not_found=True)
        found = self._do(lambda: self.fs.get_file_info(selector))
        return sorted((f for f in found if f.type == pafs.FileType.File), key=lambda f: f.path)

    def children(self) -> list[Location]:
        """The entries directly under this folder (files and folders), sorted by name."""
        selector = pafs.FileSelector(self.path, recursive=False, allow_not_found=True)
        found = self._do(lambda: self.fs.get_file_info(selector))
        return sorted((self / f.base_name for f in found), key=lambda c: c.name)

    def delete(self) -> None:
        """Delete the file or the folder and everything under it (nothing if absent)."""
        kind = self.info().type
        if kind == pafs.FileType.File:
            self._do(lambda: self.fs.delete_file(self.path))
        elif kind == pafs.FileType.Directory:
            self._do(lambda: self.fs.delete_dir(self.path))

    def copy_to(self, target: Location) -> None:
        """Copy the file or folder to ``target`` on the same filesystem (on object storage a
        server-side copy: no bytes through this process)."""
        if self.is_file():
            target.mkdir_parent()
            self._do(lambda: self.fs.copy_file(self.path, target.path))
            return
        for f in self.files():
            (target / self.relative(f.path)).mkdir_parent()
            self._do(lambda f=f: self.fs.copy_file(f.path, (target / self.relative(f.path)).path))


def location(value: str | os.PathLike[str] | Location, *, what: str = "location") -> Location:
    """The Location that ``value`` names: a URI of :data:`SCHEMES` or a local path.

    Raises:
        StorageError: a URI of another scheme, or one that carries credentials or options.
    """
    if isinstance(value, Location):
        return value
    text = os.fspath(value)
    if not is_uri(text):
        return Location(text.rstrip("/") or "/", text.rstrip("/") or "/", _local())
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise StorageError(
            f"{what} {text!r}: scheme {scheme}:// is not one of {', '.join(SCHEMES)} "
            "(or give a local path)"
        )
    if parts.password is not None or (scheme in ("s3", "gs", "gcs") and parts.username):
        raise StorageError(
            f"{what} {scheme}://…: credentials do not go in a URI (it is printed and recorded);"
            " set them the storage's standard way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
            "~/.aws, the node's role)"
        )
    if parts.query or parts.fragment:
        raise StorageError(
            f"{what} {text.split('?')[0]!r}: options after '?' are not taken; configure the "
            "storage the standard way (AWS_ENDPOINT_URL, AWS_REGION, …)"
        )
    uri = text.rstrip("/")
    if scheme == "file":
        return Location(uri, parts.path.rstrip("/") or "/", _local())
    if not parts.netloc:
        raise StorageError(f"{what} {text!r}: names no bucket ({scheme}://BUCKET/PREFIX)")
    if scheme == "s3":
        path = f"{parts.netloc}{parts.path}".rstrip("/")
        return Location(uri, path, _s3(parts.netloc, *_s3_config(), _credentials_digest()))
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise StorageError(f"{uri}: {reason(exc)}") from None
    return Location(uri, path.rstrip("/"), fs)


@functools.cache
def _local() -> pafs.LocalFileSystem:
    return pafs.LocalFileSystem()


def _s3_config() -> tuple[str | None, str | None]:
    endpoint = next((os.environ[k] for k in ENV_ENDPOINT if os.environ.get(k)), None)
    region = next((os.environ[k] for k in ENV_REGION if os.environ.get(k)), None)
    return endpoint, region


def _credentials_digest() -> str:
    """Which credentials the environment holds (a digest: the cache of filesystems keys on it,
    so changed credentials get a new client, and keeps no secret)."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
    return hashlib.sha256("\0".join(os.environ.get(n, "") for n in names).encode()).hexdigest()


@functools.lru_cache(maxsize=32)
def _s3(bucket: str, endpoint: str | None, region: str | None, _creds: str) -> pafs.S3FileSystem:
    """One S3 filesystem per bucket and configuration (a process reuses its connections)."""
    if region is None and endpoint is None:
        try:  # AWS itself: the bucket's own region
            region = pafs.resolve_s3_region(bucket)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"s3://{bucket}: {reason(exc)}") from None
    return pafs.S3FileSystem(
        region=region or "us-east-1",
        endpoint_override=endpoint,
        connect_timeout=CONNECT_TIMEOUT_S,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
    )


def reason(exc: BaseException, where: Location | None = None) -> str:
    """A one-line reason for a storage failure, in the user's terms; secrets scrubbed."""
    text = " ".join(str(exc).split())
    endpoint = _s3_config()[0]
    bucket = where.path.split("/", 1)[0] if where is not None and where.remote else None
    if "NETWORK_CONNECTION" in text or "curlCode" in text or "Could not connect" in text:
        said = f"the endpoint {endpoint}" if endpoint else "the storage service"
        text = f"cannot reach {said} (AWS_ENDPOINT_URL; is the server up?)"
    elif any(k in text for k in ("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT",
                                  "AccessDenied", "InvalidAccessKeyId", "403")):  # fmt: skip
        text = (
            "access denied: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
            "AWS_SESSION_TOKEN, ~/.aws or the node's role) and their rights on the bucket"
        )
    elif any(k in text for k in ("NO_SUCH_BUCKET", "NoSuchBucket")) or re.search(
        r"Bucket '.*' not found", text
    ):
        text = f"the bucket {bucket!r} does not exist" if bucket else "no such bucket"
    for name in SECRETS:
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    return text


def check_bucket(where: Location, *, option: str) -> None:
    """The endpoint answers, the credentials are accepted and the bucket exists, in seconds.

    Raises:
        StorageError: naming ``option`` and the URI.
    """
    bucket = Location(where.uri, where.path.split("/", 1)[0], where.fs)
    try:
        kind = where.fs.get_file_info(bucket.path).type
        if kind == pafs.FileType.NotFound:
            raise StorageError(f"{option} {where.uri}: the bucket {bucket.path!r} does not exist")
        where.fs.get_file_info(pafs.FileSelector(where.path, allow_not_found=True))
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"{option} {where.uri}: {reason(exc, where)}") from None


def check_complete(where: Location, *, option: str) -> None:
    """When ``where`` holds a :data:`MANIFEST` (an output the harness wrote), every file it
    lists is there with its size: an output being published, or altered, is refused."""
    manifest = where / MANIFEST
    if not manifest.is_file():
        return
    try:
        listed = json.loads(manifest.read_bytes()).get("files")
    except (ValueError, AttributeError):
        listed = None
    if not isinstance(listed, dict):
        raise StorageError(f"{option} {where.uri}: {MANIFEST} is not an output manifest")
    found = dict(walk(where))
    for name, size in listed.items():
        if found.get(name) != size:
            got = "missing" if name not in found else f"{found[name]} bytes"
            raise StorageError(
                f"{option} {where.uri}: incomplete or altered output: {name} is {got}, its "
                f"{MANIFEST} says {size} bytes"
            )


def probe_write(where: Location, *, option: str) -> None:
    """Write and delete a small object under ``where``: the credentials may write there."""
    probe = where / f".hazard-harness-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.delete()
    except StorageError as exc:
        raise StorageError(f"{option} {exc}") from None


def walk(where: Location) -> Iterator[tuple[str, int]]:
    """``(path relative to where, size)`` of every file under ``where``."""
    for f in where.files():
        yield where.relative(f.path), int(f.size)
