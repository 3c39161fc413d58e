"""The S3 backend through the minio client (MinIO, SeaweedFS, AWS S3...).

An object is exactly the bytes stored (a checkpoint stays a torch file); its SHA-256 travels as
user metadata (`x-amz-meta-nao-sha256`, hex), written in the same PUT, so an object never exists
without it, and kept by server-side copies. A read gets the metadata with the body in one
response and checks the body against it. (S3's own `x-amz-checksum-sha256` would also have the
server check the upload, and SeaweedFS 4.48 honours it on a single PUT, but the minio client
7.2 has no API for it, and a multipart upload, which it makes above 5 MiB, records a checksum
of the parts' checksums, not of the object.)

The credentials are held by the minio client and a redactor only: no repr, log line or error
message carries them.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp.store.base import (
    MAGIC,
    Store,
    StoreError,
    StoreUnavailable,
    check_key,
    copy_verified,
    sha256_file,
)
from nao_kfp.store.local import _atomic_writer

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

if TYPE_CHECKING:
    from minio import Minio

# The user metadata that carries an object's SHA-256 (minio adds the x-amz-meta- prefix).
SHA256_META = "nao-sha256"


# A blackholed endpoint must fail in seconds, not after minio's 5-minute default.
S3_CONNECT_TIMEOUT_S = 10.0
S3_READ_TIMEOUT_S = 300.0
S3_RETRIES = 3

_HEADER = f"x-amz-meta-{SHA256_META}"


class _Absent(Exception):
    """The object is missing or records no checksum."""


# S3 error codes of a server that is there but cannot serve now.
_TRANSIENT_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "OperationAborted"}
)
# S3 error codes that mean "no such object" (servers differ in which one they send).
# (a reader that creates no bucket finds a missing one the same way)
_MISSING_CODES = frozenset(
    {"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound", "NoSuchBucket"}
)


class S3Store(Store):
    """Objects in an S3 bucket (MinIO, SeaweedFS, AWS...), under an optional key prefix.

    The bucket is created when missing, unless the store only reads (`create_bucket` False: a
    prior, a checkpoint to export). Single PUTs are atomic on S3, so no temp objects."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = False,
        prefix: str = "",
        create_bucket: bool = True,
    ) -> None:
        import urllib3
        from minio import Minio
        from minio.helpers import check_bucket_name

        self.endpoint, secure = _split_endpoint(endpoint, secure)
        self.bucket = bucket
        self.secure = secure
        self.prefix = prefix.strip("/")
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=S3_CONNECT_TIMEOUT_S, read=S3_READ_TIMEOUT_S),
            retries=urllib3.Retry(
                total=S3_RETRIES, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        # Only the client and the redactor hold the credentials; neither shows them in a repr.
        self._client: Minio = Minio(
            self.endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            http_client=http,
        )
        self._secrets = _Redactor(access_key, secret_key)
        try:
            check_bucket_name(bucket)
        except ValueError:
            raise StoreError(
                f"cluster.s3_bucket: {bucket!r} is not a valid S3 bucket name "
                "(3-63 lowercase letters, digits, '-' or '.')"
            ) from None
        from minio.error import S3Error

        if not create_bucket:
            return
        with self._errors("create bucket", ""):
            if not self._client.bucket_exists(bucket):
                try:
                    self._client.make_bucket(bucket)
                except S3Error as e:  # another task created it first: that is what we wanted
                    if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    def __repr__(self) -> str:
        return (
            f"S3Store(endpoint={self.endpoint!r}, bucket={self.bucket!r}, "
            f"prefix={self.prefix!r}, secure={self.secure})"
        )

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """Turn minio/urllib3 failures into a one-line StoreError without any credential."""
        from minio.error import MinioException, S3Error
        from urllib3.exceptions import HTTPError

        try:
            yield
        except (MinioException, HTTPError, OSError) as e:
            what = getattr(e, "code", None) or type(e).__name__
            lines = (getattr(e, "message", None) or str(e)).splitlines()
            detail = lines[0] if lines else ""
            where = f"s3://{self.bucket}/{self._name(key) if key else ''}"
            # an S3 error response (access denied, no such bucket...) is an answer; anything
            # else (refused, timed out, 5xx after urllib3's retries) may pass
            transient = not isinstance(e, S3Error) or what in _TRANSIENT_CODES
            cls = StoreUnavailable if transient else StoreError
            raise cls(
                self._secrets.scrub(
                    f"S3 store {self.endpoint}: {action} {where} failed: {what} ({detail})"
                )
            ) from None

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        name = self._name(key)
        with self._errors("stat", key):
            try:
                stat = self._client.stat_object(self.bucket, name)
                if stat.metadata is not None and stat.metadata.get(_HEADER):
                    return True
                head = self._client.get_object(self.bucket, name, offset=0, length=len(MAGIC))
            except S3Error as e:
                if e.code in _MISSING_CODES:
                    return False
                raise
            try:
                return bool(head.read() == MAGIC)  # written in the old frame
            finally:
                head.close()
                head.release_conn()

    def get_file(self, key: str, dest: Path) -> bool:
        try:
            with _atomic_writer(Path(dest)) as out:
                if not self._read(key, out, "download"):
                    raise _Absent
        except _Absent:
            return False
        return True

    def get_bytes(self, key: str) -> bytes | None:
        out = io.BytesIO()
        return out.getvalue() if self._read(key, out, "read") else None

    def _read(self, key: str, out: SupportsWrite[bytes], action: str) -> bool:
        """Stream the object into out, checked against its metadata; False when it is missing
        or records no checksum."""
        from minio.error import S3Error

        name = self._name(key)
        with self._errors(action, key):
            try:
                resp = self._client.get_object(self.bucket, name)
            except S3Error as e:
                if e.code in _MISSING_CODES:
                    return False
                raise
            try:
                return copy_verified(resp, out, resp.headers.get(_HEADER), key)  # type: ignore[arg-type]
            finally:
                resp.close()
                resp.release_conn()

    def put_file(self, key: str, src: Path) -> None:
        name = self._name(key)
        meta = {SHA256_META: sha256_file(src)}
        with self._errors("upload", key):
            self._client.fput_object(self.bucket, name, str(src), metadata=meta)  # type: ignore[arg-type]

    def put_bytes(self, key: str, data: bytes) -> None:
        name = self._name(key)
        content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
        meta = {SHA256_META: hashlib.sha256(data).hexdigest()}
        with self._errors("write", key):
            self._client.put_object(
                self.bucket, name, io.BytesIO(data), len(data), content_type=content_type,
                metadata=meta,  # type: ignore[arg-type]
            )  # fmt: skip

    def list(self, prefix: str = "") -> list[str]:
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        skip = len(self.prefix) + 1 if self.prefix else 0
        with self._errors("list", ""):
            names = [
                o.object_name
                for o in self._client.list_objects(self.bucket, prefix=full or None, recursive=True)
                if o.object_name is not None and not o.is_dir
            ]
        return sorted(n[skip:] for n in names)

    def copy(self, src_key: str, dst_key: str) -> bool:
        from minio.commonconfig import CopySource
        from minio.error import S3Error

        with self._errors("copy", src_key):
            try:
                self._client.copy_object(
                    self.bucket, self._name(dst_key), CopySource(self.bucket, self._name(src_key))
                )
            except S3Error as e:
                if e.code in _MISSING_CODES:
                    return False
                raise
        return True

    def delete(self, key: str) -> None:
        name = self._name(key)
        with self._errors("delete", key):
            self._client.remove_object(self.bucket, name)


def _split_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """Accept host:port or a URL; https:// implies TLS. A path is an error (minio rejects it)."""
    text = endpoint.strip()
    for scheme, tls in (("https://", True), ("http://", False)):
        if text.startswith(scheme):
            text, secure = text[len(scheme) :], tls or secure
    text = text.rstrip("/")
    if not text or "/" in text:
        raise StoreError(
            f"cluster.s3_endpoint: expected host:port (e.g. minio.nao:9000), got {endpoint!r}"
        )
    return text, secure


class _Redactor:
    """Replaces credential values in text, each as a whole (a short secret inside a word, as in
    MaxRetryError, stays: it is not the secret there); its repr shows none of them."""

    __slots__ = ("_patterns",)

    def __init__(self, *secrets: str) -> None:
        self._patterns = tuple(
            re.compile(rf"(?<![\w]){re.escape(s)}(?![\w])")
            for s in sorted({s for s in secrets if s}, key=len, reverse=True)
        )

    def scrub(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub("***", text)
        return text

    def __repr__(self) -> str:
        return "_Redactor(***)"
