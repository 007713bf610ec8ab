"""The server side of HTTP/2: frames in, events and answers out, against an independent HPACK encoder."""

from __future__ import annotations

import struct

import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provider.plugin import http2
from provider.plugin.http2 import (
    PREFACE,
    ConnectionEnded,
    DataReceived,
    Http2Error,
    RequestStarted,
    ServerConnection,
    StreamReset,
    WindowOpened,
    encode_headers,
    frame,
)

REQUEST = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/tfplugin6.Provider/ReadResource"),
    (b":authority", b"localhost"),
    (b"content-type", b"application/grpc"),
    (b"te", b"trailers"),
    (b"grpc-timeout", b"30S"),
]


def frames_of(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, stream id, payload) of every frame in `data`."""
    found = []
    while data:
        high, low, kind, flags, stream_id = struct.unpack(">HBBBL", data[:9])
        length = high << 8 | low
        found.append((kind, flags, stream_id, data[9 : 9 + length]))
        data = data[9 + length :]
    return found


def connected() -> ServerConnection:
    connection = ServerConnection()
    connection.data_to_send()
    assert connection.receive(PREFACE + frame(http2.SETTINGS, 0, 0)) == [WindowOpened()]
    assert frames_of(connection.data_to_send()) == [(http2.SETTINGS, http2.ACK, 0, b"")]
    return connection


def test_server_opens_with_settings_and_a_large_receive_window() -> None:
    opening = frames_of(ServerConnection().data_to_send())
    assert opening == [
        (http2.SETTINGS, 0, 0, struct.pack(">HL", http2.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24)),
        (http2.WINDOW_UPDATE, 0, 0, struct.pack(">L", (1 << 24) - 65535)),
    ]


def test_request_with_huffman_headers_continuation_and_padded_data() -> None:
    connection = connected()
    block = hpack.Encoder().encode(REQUEST, huffman=True)
    wire = (
        frame(http2.HEADERS, 0, 1, block[:10])
        + frame(http2.CONTINUATION, http2.END_HEADERS, 1, block[10:])
        + frame(http2.DATA, http2.PADDED, 1, b"\x03" + b"abc" + b"\x00" * 3)
        + frame(http2.DATA, http2.END_STREAM, 1, b"def")
    )
    assert connection.receive(wire) == [
        RequestStarted(1, dict(REQUEST), ended=False),
        DataReceived(1, b"abc", ended=False),
        DataReceived(1, b"def", ended=True),
    ]


def test_bytes_fed_one_at_a_time_give_the_same_events() -> None:
    wire = (
        PREFACE
        + frame(http2.SETTINGS, 0, 0)
        + frame(http2.HEADERS, http2.END_HEADERS | http2.PRIORITY_FLAG, 3, b"\x00" * 5 + encode_headers(REQUEST))
        + frame(http2.DATA, http2.END_STREAM, 3, b"body")
    )
    whole = ServerConnection().receive(wire)
    connection = ServerConnection()
    one_by_one = [event for i in range(len(wire)) for event in connection.receive(wire[i : i + 1])]
    assert one_by_one == whole
    assert whole[1:] == [RequestStarted(3, dict(REQUEST), ended=False), DataReceived(3, b"body", ended=True)]


def test_ping_is_acknowledged_and_reset_and_goaway_reported() -> None:
    connection = connected()
    events = connection.receive(
        frame(http2.PING, 0, 0, b"12345678")
        + frame(http2.RST_STREAM, 0, 5, struct.pack(">L", 8))
        + frame(http2.PRIORITY, 0, 5, b"\x00" * 5)
        + frame(0x42, 0, 0, b"unknown types are ignored")
        + frame(http2.GOAWAY, 0, 0, struct.pack(">LL", 0, 0))
    )
    assert events == [StreamReset(5), ConnectionEnded()]
    assert frames_of(connection.data_to_send()) == [(http2.PING, http2.ACK, 0, b"12345678")]


def test_response_respects_flow_control_and_frame_size() -> None:
    connection = connected()
    connection.receive(frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 1, encode_headers(REQUEST)))
    body = memoryview(bytes(range(256)) * 400)  # 102400 bytes, more than the default 65535 window
    connection.respond_headers(1, encode_headers([(b":status", b"200")]))
    sent = connection.send_data(1, body)
    assert sent == 65535
    assert connection.send_data(1, body[sent:]) == 0
    data_frames = [f for f in frames_of(connection.data_to_send()) if f[0] == http2.DATA]
    assert [len(f[3]) for f in data_frames] == [16384, 16384, 16384, 16383]
    # The stream's window opens first, then the connection's: only both together let data through.
    assert connection.receive(frame(http2.WINDOW_UPDATE, 0, 1, struct.pack(">L", 50000))) == [WindowOpened()]
    assert connection.send_data(1, body[sent:]) == 0
    connection.receive(frame(http2.WINDOW_UPDATE, 0, 0, struct.pack(">L", 40000)))
    assert connection.send_data(1, body[sent:]) == len(body) - sent
    connection.respond_headers(1, encode_headers([(b"grpc-status", b"0")]), end_stream=True)
    assert not connection.is_open(1)
    last = frames_of(connection.data_to_send())[-1]
    assert last[:3] == (http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 1)


def test_peer_settings_change_open_stream_windows_and_frame_size() -> None:
    connection = connected()
    connection.receive(frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 1, encode_headers(REQUEST)))
    settings_payload = struct.pack(
        ">HLHL", http2.SETTINGS_INITIAL_WINDOW_SIZE, 10, http2.SETTINGS_MAX_FRAME_SIZE, 20000
    )
    connection.receive(frame(http2.SETTINGS, 0, 0, settings_payload))
    assert connection.send_data(1, memoryview(b"x" * 100)) == 10
    assert connection.max_frame_size == 20000


def test_large_header_block_is_split_into_continuations() -> None:
    connection = connected()
    connection.receive(frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 1, encode_headers(REQUEST)))
    trailers = [(b"grpc-status", b"13"), (b"grpc-message", b"m" * 40000)]
    connection.respond_headers(1, encode_headers(trailers), end_stream=True)
    sent = frames_of(connection.data_to_send())
    assert [(kind, flags) for kind, flags, _, _ in sent] == [
        (http2.HEADERS, http2.END_STREAM),
        (http2.CONTINUATION, 0),
        (http2.CONTINUATION, http2.END_HEADERS),
    ]
    assert hpack.Decoder().decode(b"".join(payload for *_, payload in sent), raw=True) == trailers


@pytest.mark.parametrize("length", [0, 1, 126, 127, 128, 255, 16383, 30000])
def test_literal_headers_decode_with_an_independent_decoder(length: int) -> None:
    headers = [(b"grpc-status", b"2"), (b"grpc-message", b"%" * length), (b"x" * length, b"")]
    assert hpack.Decoder().decode(encode_headers(headers), raw=True) == headers


@pytest.mark.parametrize(
    "wire",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        PREFACE + frame(http2.DATA, 0, 0, b"x"),
        PREFACE + frame(http2.HEADERS, http2.END_HEADERS, 2, encode_headers(REQUEST)),
        PREFACE + frame(http2.HEADERS, 0, 1, b"") + frame(http2.PING, 0, 0, b"12345678"),
        PREFACE + frame(http2.PING, 0, 0, b"short"),
        PREFACE + frame(http2.SETTINGS, 0, 0, b"12345"),
        PREFACE + frame(http2.PUSH_PROMISE, http2.END_HEADERS, 1, b"\x00\x00\x00\x02"),
        PREFACE + frame(http2.DATA, http2.PADDED, 1, b"\x05ab"),
        PREFACE + frame(http2.HEADERS, http2.END_HEADERS, 1, b"\xff\xff\xff\xff"),
        PREFACE + struct.pack(">HBBBL", 0x0100, 0x00, http2.DATA, 0, 1),  # 65536 bytes: over the frame size
    ],
)
def test_protocol_errors_end_the_connection_with_goaway(wire: bytes) -> None:
    connection = ServerConnection()
    connection.data_to_send()
    with pytest.raises(Http2Error):
        connection.receive(wire)
    assert frames_of(connection.data_to_send())[-1][0] == http2.GOAWAY


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10), st.integers(0, 255), st.integers(0, 7), st.binary(max_size=40))))
def test_arbitrary_frames_raise_only_the_codec_error(frames: list[tuple[int, int, int, bytes]]) -> None:
    connection = ServerConnection()
    try:
        connection.receive(PREFACE + b"".join(frame(kind, flags, sid, payload) for kind, flags, sid, payload in frames))
    except Http2Error:
        pass


def test_remembered_header_blocks_decode_as_a_fresh_decoder_would() -> None:
    # The same bytes decode otherwise once the dynamic table has changed: new entries shift indices.
    encoder = hpack.Encoder()
    first = encoder.encode(REQUEST)  # literals that enter the table
    repeated = encoder.encode(REQUEST)  # indexed only
    other = encoder.encode([*REQUEST[:2], (b":path", b"/plugin.GRPCController/Shutdown"), *REQUEST[3:]])
    blocks = [first, repeated, repeated, other, repeated, repeated]
    reference = hpack.Decoder()
    expected = [dict(reference.decode(block, raw=True)) for block in blocks]
    connection = connected()
    got = []
    for stream_id, block in zip(range(1, 2 * len(blocks), 2), blocks, strict=True):
        [event] = connection.receive(frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, stream_id, block))
        assert isinstance(event, RequestStarted)
        got.append(event.headers)
    assert got == expected
    assert got[4] != got[1]  # after `other`, the repeated bytes name other table entries
