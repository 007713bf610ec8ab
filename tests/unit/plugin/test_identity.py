"""The plugin's TLS identity, made by the real openssl program as go-plugin makes its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provider.plugin.identity import TLSSetupError, start_identity


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def openssl(*args: str, given: bytes) -> str:
    return subprocess.run(["openssl", *args], input=given, capture_output=True, check=True).stdout.decode()


def test_a_p256_certificate_for_localhost_that_is_its_own_ca_with_its_key() -> None:
    before = open_descriptors()
    identity = start_identity(days=30).result()
    assert open_descriptors() == before  # both pipes closed, openssl waited for
    text = openssl("x509", "-noout", "-text", given=identity.cert_pem)
    assert "prime256v1" in text and "CA:TRUE" in text and "DNS:localhost" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    public_of_key = openssl("pkey", "-pubout", given=identity.key_pem)
    assert public_of_key == openssl("x509", "-noout", "-pubkey", given=identity.cert_pem)
    assert openssl("x509", "-inform", "DER", "-noout", given=identity.cert_der) == ""  # the DER form parses


def test_without_openssl_the_error_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    before = open_descriptors()
    with pytest.raises(TLSSetupError, match="openssl program is needed"):
        start_identity()
    assert open_descriptors() == before


def test_a_failing_openssl_is_reported_with_its_messages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A fault injected: an "openssl" that fails as a broken installation would (a real one does not on demand).
    fake = tmp_path / "openssl"
    fake.write_text("#!/bin/sh\necho 'unable to load provider' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    before = open_descriptors()
    pending = start_identity()  # it may end before reading its configuration: that is reported by result()
    with pytest.raises(TLSSetupError, match="openssl could not make a certificate: unable to load provider"):
        pending.result()
    assert open_descriptors() == before
