import base64

import pytest

from provider.plugin import handshake


def test_missing_cookie_explains_what_the_binary_is() -> None:
    with pytest.raises(handshake.HandshakeError) as err:
        handshake.check_environment({})
    assert "Terraform plugin" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("offered", ["5,6", "6,5", " 6 ", "4,6,5"])
def test_protocol_6_is_chosen_in_any_order(offered: str) -> None:
    env = {handshake.MAGIC_COOKIE_KEY: handshake.MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": offered}
    assert handshake.check_environment(env).protocol_version == 6


def test_no_common_version_is_refused_with_the_versions() -> None:
    env = {handshake.MAGIC_COOKIE_KEY: handshake.MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "4,5"}
    with pytest.raises(handshake.HandshakeError, match="4,5"):
        handshake.check_environment(env)


def test_client_cert_absent_means_plaintext() -> None:
    env = {handshake.MAGIC_COOKIE_KEY: handshake.MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "6"}
    assert handshake.check_environment(env).client_cert_pem is None


def test_line_has_unpadded_base64_der() -> None:
    der = b"\x30\x82\x01"  # 3 bytes: base64 with no padding needed; 4 bytes would need '=='
    assert handshake.handshake_line(6, "unix", "/tmp/x/plugin.sock", der) == "1|6|unix|/tmp/x/plugin.sock|grpc|MIIB"
    line = handshake.handshake_line(6, "unix", "/s", b"\x30\x82\x01\x02")
    cert = line.split("|")[5]
    assert "=" not in cert and base64.b64decode(cert + "==") == b"\x30\x82\x01\x02"


def test_plaintext_line_ends_with_empty_cert() -> None:
    assert handshake.handshake_line(6, "unix", "/s", None) == "1|6|unix|/s|grpc|"
