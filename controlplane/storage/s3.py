"""Repositories in an S3 region (OpenStack Swift's s3api, or any S3 endpoint): one bucket per container.

boto3 does the protocol (SigV4, path-style addressing for endpoints without wildcard DNS, retries with
backoff on throttling and 5xx, multipart uploads). Objects are streamed both ways: an upload reads its source
in parts of `_PART_SIZE`, so a copy holds at most one part per worker in memory. A PUT is atomic in S3, so
there are no temporary objects; what an interrupted copy can leave is an unfinished multipart upload, which
`sweep_temporary` aborts once it is older than `_ABANDONED_AFTER`.

Every failure to reach or use the endpoint is a `StoreUnavailable` naming the region and endpoint; an
object that vanished while read is `ObjectMissing`.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from controlplane.settings import Region, S3Endpoint
from controlplane.storage.stores import ObjectMissing, StoredObject, StoreUnavailable, bucket_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_PART_SIZE = 16 * 1024 * 1024
_TRANSFER = TransferConfig(multipart_threshold=_PART_SIZE, multipart_chunksize=_PART_SIZE, use_threads=False)
_ABANDONED_AFTER = 3600.0  # a multipart upload this old belongs to no live copy (one part takes seconds)
_DELETE_BATCH = 1000  # the most one DeleteObjects request takes
_MISSING = ("404", "NoSuchKey", "NoSuchBucket", "NotFound")
_clients: dict[str, S3Client] = {}
_clients_lock = threading.Lock()


def client(region: Region) -> S3Client:
    """The region's S3 client, made once per process (clients are thread-safe, their creation is not)."""
    endpoint = _endpoint(region)
    with _clients_lock:
        found = _clients.get(region.name)
        if found is None:
            found = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint.endpoint,
                region_name=endpoint.region,
                aws_access_key_id=endpoint.access_key,
                aws_secret_access_key=endpoint.secret_key,
                verify=str(endpoint.ca_file) if endpoint.ca_file else True,
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"mode": "standard", "max_attempts": 5},
                    connect_timeout=10,
                    read_timeout=60,
                    # Swift's s3api predates the checksums newer botocore sends by default.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
            # Swift's s3api wants DeleteObjects' Content-MD5, which botocore no longer sends (it sends CRC32).
            found.meta.events.register("before-sign.s3.DeleteObjects", _add_content_md5)
            _clients[region.name] = found
        return found


def _add_content_md5(request: AWSRequest, **_: object) -> None:
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def project_buckets(region: Region, project: str) -> list[str]:
    """The buckets of the region that may be `project`'s containers (see stores.bucket_name)."""
    try:
        listed = client(region).list_buckets().get("Buckets", [])
    except (BotoCoreError, ClientError) as err:
        raise _unavailable(region, "listing the buckets", err) from err
    prefix = bucket_prefix(project)
    return sorted(b["Name"] for b in listed if "Name" in b and b["Name"].startswith(prefix))


class S3Repository:
    """One bucket of an S3 region: a dbaas container (stores.Repository)."""

    def __init__(self, region: Region, *, bucket: str) -> None:
        self._region = region
        self._bucket = bucket
        self._client = client(region)

    def __repr__(self) -> str:
        return f"S3Repository({self.location!r})"

    @property
    def location(self) -> str:
        return f"s3://{self._region.name}/{self._bucket}"

    @property
    def region(self) -> str:
        return self._region.name

    def exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError as err:
            if _code(err) in _MISSING:
                return False
            raise self._unavailable("reading", err) from err
        except BotoCoreError as err:
            raise self._unavailable("reading", err) from err
        return True

    def create(self) -> None:
        if self.exists():
            return
        try:
            self._client.create_bucket(
                Bucket=self._bucket,
                CreateBucketConfiguration={"LocationConstraint": _endpoint(self._region).region},  # type: ignore[typeddict-item]
            )
        except ClientError as err:
            if _code(err) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._unavailable("creating", err) from err
        except BotoCoreError as err:
            raise self._unavailable("creating", err) from err

    def list(self, prefix: str) -> list[StoredObject]:
        found = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item.get("Key", "")
                    if key and not any(part.startswith(".") for part in key.split("/")):
                        found.append(StoredObject(key, item.get("Size", 0), item["LastModified"].timestamp()))
        except ClientError as err:
            if _code(err) in _MISSING:
                return []
            raise self._unavailable("listing", err) from err
        except BotoCoreError as err:
            raise self._unavailable("listing", err) from err
        return sorted(found, key=lambda stored: stored.key)

    def read(self, key: str) -> bytes | None:
        try:
            with self.open_read(key) as body:
                return body.read()
        except ObjectMissing:
            return None

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as err:
            if _code(err) in _MISSING:
                raise ObjectMissing(f"{self.location}/{key}") from None
            raise self._unavailable("reading", err) from err
        except BotoCoreError as err:
            raise self._unavailable("reading", err) from err
        try:
            yield body  # type: ignore[misc]  # botocore's StreamingBody reads like a binary file
        except (BotoCoreError, ClientError) as err:  # the stream broke while a copy read it
            raise self._unavailable("reading", err) from err
        finally:
            body.close()

    def write(self, key: str, source: BinaryIO, size: int, *, durable: bool = False) -> None:
        # S3 answers a PUT (or the completion of a multipart upload) once the object is stored whole.
        try:
            self._client.upload_fileobj(source, self._bucket, key, Config=_TRANSFER)
        except (BotoCoreError, ClientError) as err:
            raise self._unavailable(f"writing {key} to", err) from err

    def flush(self) -> None:
        """Nothing to do: every write was stored whole before it returned."""

    def remove(self, prefix: str) -> None:
        keys = [stored.key for stored in self.list(prefix)]
        try:
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
                answer = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]
                failed = [error for error in answer.get("Errors", []) if error.get("Code") not in _MISSING]
                if failed:
                    raise StoreUnavailable(f"removing {prefix} from {self.location} failed: {failed[0]}")
        except (BotoCoreError, ClientError) as err:
            raise self._unavailable(f"removing {prefix} from", err) from err

    def sweep_temporary(self) -> None:
        cutoff = time.time() - _ABANDONED_AFTER
        try:
            uploads = self._client.list_multipart_uploads(Bucket=self._bucket).get("Uploads", [])
            for upload in uploads:
                if upload["Initiated"].timestamp() < cutoff:
                    self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
        except ClientError as err:
            if _code(err) not in _MISSING:
                raise self._unavailable("sweeping", err) from err
        except BotoCoreError as err:
            raise self._unavailable("sweeping", err) from err

    def pgbackrest_options(self) -> dict[str, str]:
        endpoint = _endpoint(self._region)
        options = {
            "type": "s3",
            "path": "/",
            "s3-bucket": self._bucket,
            "s3-endpoint": endpoint.host,
            "s3-region": endpoint.region,
            "s3-key": endpoint.access_key,
            "s3-key-secret": endpoint.secret_key,
            # No wildcard DNS for bucket names on a private endpoint: the bucket goes in the path.
            "s3-uri-style": "path",
            "storage-port": str(endpoint.port),
            # Small files bundled into larger objects: an object store pays per object, not per byte.
            "bundle": "y",
        }
        if endpoint.ca_file is not None:
            options["storage-ca-file"] = str(endpoint.ca_file)
        return options

    def _unavailable(self, doing: str, err: Exception) -> StoreUnavailable:
        return _unavailable(self._region, f"{doing} {self.location}", err)


def _endpoint(region: Region) -> S3Endpoint:
    if region.s3 is None:
        raise LookupError(f"region {region.name} keeps its objects in a directory, not on S3")
    return region.s3


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _unavailable(region: Region, doing: str, err: Exception) -> StoreUnavailable:
    endpoint = region.s3.endpoint if region.s3 else "?"
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = f"{_code(err)} (HTTP {status}): {err.response.get('Error', {}).get('Message', '')}"
    else:
        reason = str(err)
    return StoreUnavailable(f"{doing} failed: region {region.name} at {endpoint}: {reason.strip()}")
