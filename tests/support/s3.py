"""The real S3 server of the tests (versitygw, see localcluster.s3): buckets, stores and extra users."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from xml.sax.saxutils import escape

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from localcluster.s3 import S3Endpoint
from wallaroo_operator.objectstore import Credentials, ObjectStore, S3Settings


def root_credentials(endpoint: S3Endpoint) -> Credentials:
    return Credentials(endpoint.access_key, endpoint.secret_key)


def store_for(endpoint: S3Endpoint, bucket: str, credentials: Credentials | None = None, **settings) -> ObjectStore:
    options = {"path_style": True, "max_attempts": 2, **settings}
    return ObjectStore(
        S3Settings(
            bucket=bucket,
            endpoint=endpoint.endpoint_url,
            region=endpoint.region,
            credentials=credentials or root_credentials(endpoint),
            **options,
        )
    )


def unique_bucket() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


def create_user(endpoint: S3Endpoint, role: str = "user") -> Credentials:
    """A new account through versitygw's admin API (PATCH /create-user, signed by root); `user` accounts
    own no bucket, so they are denied everything until a bucket policy grants them something."""
    credentials = Credentials(f"user-{secrets.token_hex(4)}", secrets.token_urlsafe(18))
    body = (
        f"<Account><Access>{escape(credentials.access_key_id)}</Access>"
        f"<Secret>{escape(credentials.secret_access_key)}</Secret><Role>{role}</Role>"
        "<UserID>0</UserID><GroupID>0</GroupID><ProjectID>0</ProjectID></Account>"
    ).encode()
    request = AWSRequest(
        "PATCH",
        f"{endpoint.endpoint_url}/create-user",
        data=body,
        headers={"X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()},
    )
    SigV4Auth(BotoCredentials(endpoint.access_key, endpoint.secret_key), "s3", endpoint.region).add_auth(request)
    response = requests.patch(request.url, data=body, headers=dict(request.headers), timeout=10)
    assert response.status_code < 300, response.text
    return credentials
