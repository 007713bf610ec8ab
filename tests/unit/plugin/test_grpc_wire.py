import pytest

from provider.plugin import grpc_wire
from provider.plugin.grpc_wire import GrpcError, StatusCode

FRAMES = [
    (b"", b"\x00\x00\x00\x00\x00"),
    (b"\x08\x01", b"\x00\x00\x00\x00\x02\x08\x01"),
]


@pytest.mark.parametrize(("message", "framed"), FRAMES)
def test_frame_both_ways(message: bytes, framed: bytes) -> None:
    assert grpc_wire.frame(message) == framed
    assert grpc_wire.split_messages(framed) == [message]


def test_several_messages_in_one_body() -> None:
    assert grpc_wire.split_messages(grpc_wire.frame(b"a") + grpc_wire.frame(b"bc")) == [b"a", b"bc"]


@pytest.mark.parametrize("body", [b"\x00\x00", b"\x00\x00\x00\x00\x05ab"])
def test_truncated_bodies_are_errors(body: bytes) -> None:
    with pytest.raises(GrpcError):
        grpc_wire.split_messages(body)


def test_compressed_message_is_unimplemented() -> None:
    with pytest.raises(GrpcError) as err:
        grpc_wire.split_messages(b"\x01\x00\x00\x00\x00")
    assert err.value.code == StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (b"30S", 30.0),
        (b"250m", 0.25),
        (b"2M", 120.0),
        (b"1H", 3600.0),
        (b"", None),
        (b"S", None),
        (b"12x", None),
        (None, None),
    ],
)
def test_timeouts(header: bytes | None, seconds: float | None) -> None:
    assert grpc_wire.parse_timeout(header) == seconds


def test_status_message_is_percent_encoded() -> None:
    trailers = dict(grpc_wire.status_trailers(StatusCode.INTERNAL, "100% café"))
    assert trailers[b"grpc-status"] == b"13"
    assert trailers[b"grpc-message"] == b"100%25 caf%C3%A9"
