"""The server side of HTTP/2 (RFC 9113) as gRPC needs it, no I/O: bytes in, events out, bytes to send.

Contract: `receive(data)` parses the client's preface and frames and returns what they mean (a request's
headers, its body, its end, a reset, more send window, the end of the connection); it answers SETTINGS
and PING itself. `respond_headers`, `send_data` and `end_stream` queue a response; `data_to_send()`
hands over the bytes for the wire. A peer that breaks the protocol gets a GOAWAY and an `Http2Error`.

Why not a general library: a gRPC server needs a small part of HTTP/2, and a general state machine's
per-frame bookkeeping was most of the provider's CPU per call. Request headers are decoded by `hpack`
(its dynamic table and Huffman code); our own headers are literals that never touch a table, so the
response blocks are stateless bytes built without an encoder.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import hpack
import hpack.exceptions

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 0x4, 0x5
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, COMPRESSION_ERROR = 0x0, 0x1, 0x3, 0x6, 0x9

_FRAME_HEADER = struct.Struct(">HBBBL")  # 24-bit length as 16 + 8 bits, type, flags, stream id
_SETTING = struct.Struct(">HL")
_U32 = struct.Struct(">L")
_MAX_WINDOW = 2**31 - 1
_DEFAULT_WINDOW = 65535
_MAX_FRAME = 16384  # what we accept: the default, never raised
# We advertise a large receive window and top it up once half is used: request bodies are whole
# resource states, and a window update per DATA frame would cost a frame per frame.
_RECEIVE_WINDOW = 1 << 24
_DECODED_BLOCKS = 256  # header blocks remembered: one or two per RPC method Terraform calls


class Http2Error(Exception):
    """The peer broke the protocol; a GOAWAY is queued and the connection should end."""


class RequestStarted(NamedTuple):
    stream_id: int
    headers: dict[bytes, bytes]
    ended: bool  # END_STREAM on the headers: a request without a body


class DataReceived(NamedTuple):
    stream_id: int
    data: bytes
    ended: bool


class StreamReset(NamedTuple):
    stream_id: int


class _Signal:
    """An event without fields: equal to any event of its class."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class WindowOpened(_Signal):
    """The client allowed us to send more: senders waiting on flow control may go on."""

    __slots__ = ()


class ConnectionEnded(_Signal):
    """The client sent GOAWAY."""

    __slots__ = ()


Event = RequestStarted | DataReceived | StreamReset | WindowOpened | ConnectionEnded


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame: the 9-byte header and its payload."""
    length = len(payload)
    return _FRAME_HEADER.pack(length >> 8, length & 0xFF, kind, flags, stream_id) + payload


def encode_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HPACK block of literals without indexing and without Huffman: valid against any table state."""
    block = bytearray()
    for name, value in headers:
        block += b"\x00" + _hpack_length(len(name)) + name + _hpack_length(len(value)) + value
    return bytes(block)


def _hpack_length(length: int) -> bytes:
    # RFC 7541 §5.1 with a 7-bit prefix and the Huffman bit clear.
    if length < 127:
        return bytes([length])
    out = bytearray([127])
    length -= 127
    while length >= 128:
        out.append(length & 0x7F | 0x80)
        length >>= 7
    out.append(length)
    return bytes(out)


class ServerConnection:
    """One HTTP/2 connection seen from the server."""

    def __init__(self) -> None:
        self._decoder = hpack.Decoder()
        self._decoded: dict[bytes, dict[bytes, bytes]] = {}  # header blocks decoded against the current table
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._preface_seen = False
        self._headers_in_progress: tuple[int, int, bytearray] | None = None  # stream, flags, block so far
        self._send_windows: dict[int, int] = {}  # open streams we may still send on
        self._unacknowledged: dict[int, int] = {}  # received bytes not yet given back, by stream (0: connection)
        self._last_stream_id = 0
        self._initial_send_window = _DEFAULT_WINDOW
        self.connection_window = _DEFAULT_WINDOW
        self.max_frame_size = _MAX_FRAME
        self._outbox += frame(SETTINGS, 0, 0, _SETTING.pack(SETTINGS_INITIAL_WINDOW_SIZE, _RECEIVE_WINDOW))
        self._outbox += frame(WINDOW_UPDATE, 0, 0, _U32.pack(_RECEIVE_WINDOW - _DEFAULT_WINDOW))

    # -- receiving ------------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[Event]:
        """Parse bytes from the client into events."""
        self._inbox += data
        if not self._preface_seen:
            if len(self._inbox) < len(PREFACE):
                if not PREFACE.startswith(bytes(self._inbox)):
                    raise self._fail(PROTOCOL_ERROR, "not an HTTP/2 client preface")
                return []
            if self._inbox[: len(PREFACE)] != PREFACE:
                raise self._fail(PROTOCOL_ERROR, "not an HTTP/2 client preface")
            del self._inbox[: len(PREFACE)]
            self._preface_seen = True
        events: list[Event] = []
        offset = 0
        inbox = self._inbox
        while len(inbox) - offset >= 9:
            high, low, kind, flags, stream_id = _FRAME_HEADER.unpack_from(inbox, offset)
            length = high << 8 | low
            if length > _MAX_FRAME:
                raise self._fail(FRAME_SIZE_ERROR, f"a frame of {length} bytes")
            if len(inbox) - offset - 9 < length:
                break
            payload = bytes(inbox[offset + 9 : offset + 9 + length])
            offset += 9 + length
            self._handle(kind, flags, stream_id & _MAX_WINDOW, payload, events)
        del inbox[:offset]
        return events

    def _handle(self, kind: int, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if self._headers_in_progress is not None and kind != CONTINUATION:
            raise self._fail(PROTOCOL_ERROR, "a header block interrupted")
        if kind == DATA:
            self._on_data(flags, stream_id, payload, events)
        elif kind == HEADERS:
            self._on_headers(flags, stream_id, payload, events)
        elif kind == CONTINUATION:
            self._on_continuation(flags, stream_id, payload, events)
        elif kind == SETTINGS:
            self._on_settings(flags, stream_id, payload, events)
        elif kind == WINDOW_UPDATE:
            self._on_window_update(stream_id, payload, events)
        elif kind == PING:
            if len(payload) != 8 or stream_id:
                raise self._fail(FRAME_SIZE_ERROR, "a malformed PING")
            if not flags & ACK:
                self._outbox += frame(PING, ACK, 0, payload)
        elif kind == RST_STREAM:
            if stream_id == 0 or len(payload) != 4:
                raise self._fail(PROTOCOL_ERROR, "a malformed RST_STREAM")
            self._send_windows.pop(stream_id, None)
            self._unacknowledged.pop(stream_id, None)
            events.append(StreamReset(stream_id))
        elif kind == GOAWAY:
            events.append(ConnectionEnded())
        elif kind == PUSH_PROMISE:
            raise self._fail(PROTOCOL_ERROR, "a client may not push")
        # PRIORITY and unknown frame types are ignored, as RFC 9113 asks.

    def _on_data(self, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if stream_id == 0:
            raise self._fail(PROTOCOL_ERROR, "DATA on stream 0")
        flow_controlled = len(payload)
        if flags & PADDED:
            payload = self._strip_padding(payload)
        self._give_back(0, flow_controlled)
        if stream_id in self._unacknowledged and not flags & END_STREAM:
            self._give_back(stream_id, flow_controlled)
        events.append(DataReceived(stream_id, payload, bool(flags & END_STREAM)))
        if flags & END_STREAM:
            self._unacknowledged.pop(stream_id, None)

    def _give_back(self, stream_id: int, length: int) -> None:
        total = self._unacknowledged.get(stream_id, 0) + length
        if total >= _RECEIVE_WINDOW // 2:
            self._outbox += frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(total))
            total = 0
        self._unacknowledged[stream_id] = total

    def _on_headers(self, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if stream_id == 0:
            raise self._fail(PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & PADDED:
            payload = self._strip_padding(payload)
        if flags & PRIORITY_FLAG:
            payload = payload[5:]
        self._headers_in_progress = (stream_id, flags, bytearray(payload))
        if flags & END_HEADERS:
            self._end_header_block(events)

    def _on_continuation(self, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if self._headers_in_progress is None or self._headers_in_progress[0] != stream_id:
            raise self._fail(PROTOCOL_ERROR, "an unexpected CONTINUATION")
        self._headers_in_progress[2].extend(payload)
        if flags & END_HEADERS:
            self._end_header_block(events)

    def _end_header_block(self, events: list[Event]) -> None:
        assert self._headers_in_progress is not None
        stream_id, flags, block = self._headers_in_progress
        self._headers_in_progress = None
        headers = self._decode_headers(bytes(block))
        ended = bool(flags & END_STREAM)
        if stream_id <= self._last_stream_id:
            # Trailers of a request (gRPC clients send none) or a stream that is already over.
            if ended:
                events.append(DataReceived(stream_id, b"", True))
            return
        if stream_id % 2 == 0:
            raise self._fail(PROTOCOL_ERROR, "a client stream with an even id")
        self._last_stream_id = stream_id
        self._send_windows[stream_id] = self._initial_send_window
        if not ended:
            self._unacknowledged[stream_id] = 0
        events.append(RequestStarted(stream_id, headers, ended))

    def _decode_headers(self, block: bytes) -> dict[bytes, bytes]:
        # grpc-go indexes every header it sends, so once its table is warm each call of a method
        # sends the same bytes; a block that left the table as it was decodes the same next time.
        cached = self._decoded.get(block)
        if cached is not None:
            return cached
        entries = self._decoder.header_table.dynamic_entries
        before = (entries[0] if entries else None, len(entries), self._decoder.header_table.maxsize)
        try:
            headers = dict(self._decoder.decode(block, raw=True))
        except hpack.exceptions.HPACKError as err:
            raise self._fail(COMPRESSION_ERROR, f"an undecodable header block: {err}") from err
        after = (entries[0] if entries else None, len(entries), self._decoder.header_table.maxsize)
        if after[0] is not before[0] or after[1:] != before[1:]:
            self._decoded.clear()  # the table changed: what was remembered may now decode otherwise
        elif len(self._decoded) < _DECODED_BLOCKS:
            self._decoded[block] = headers
        return headers

    def _on_settings(self, flags: int, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if stream_id or len(payload) % 6:
            raise self._fail(FRAME_SIZE_ERROR, "a malformed SETTINGS")
        if flags & ACK:
            return
        for offset in range(0, len(payload), 6):
            setting, value = _SETTING.unpack_from(payload, offset)
            if setting == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > _MAX_WINDOW:
                    raise self._fail(FLOW_CONTROL_ERROR, "an initial window over 2^31-1")
                delta = value - self._initial_send_window
                self._initial_send_window = value
                for open_stream in self._send_windows:
                    self._send_windows[open_stream] += delta
            elif setting == SETTINGS_MAX_FRAME_SIZE:
                if not _MAX_FRAME <= value <= 2**24 - 1:
                    raise self._fail(PROTOCOL_ERROR, "a maximum frame size out of range")
                self.max_frame_size = value
        self._outbox += frame(SETTINGS, ACK, 0)
        events.append(WindowOpened())

    def _on_window_update(self, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if len(payload) != 4:
            raise self._fail(FRAME_SIZE_ERROR, "a malformed WINDOW_UPDATE")
        increment = _U32.unpack(payload)[0] & _MAX_WINDOW
        if stream_id == 0:
            self.connection_window += increment
        elif stream_id in self._send_windows:
            self._send_windows[stream_id] += increment
        events.append(WindowOpened())

    def _strip_padding(self, payload: bytes) -> bytes:
        if not payload or payload[0] >= len(payload):
            raise self._fail(PROTOCOL_ERROR, "padding longer than its frame")
        return payload[1 : len(payload) - payload[0]]

    def _fail(self, code: int, reason: str) -> Http2Error:
        self._outbox += frame(GOAWAY, 0, 0, _U32.pack(self._last_stream_id) + _U32.pack(code))
        return Http2Error(reason)

    # -- sending ----------------------------------------------------------------------------------

    def is_open(self, stream_id: int) -> bool:
        return stream_id in self._send_windows

    def respond_headers(self, stream_id: int, block: bytes, *, end_stream: bool = False) -> None:
        """Queue a header block (from `encode_headers`), split into CONTINUATION frames if it is large."""
        size = self.max_frame_size
        first, rest = block[:size], block[size:]
        flags = (END_STREAM if end_stream else 0) | (0 if rest else END_HEADERS)
        self._outbox += frame(HEADERS, flags, stream_id, first)
        while rest:
            chunk, rest = rest[:size], rest[size:]
            self._outbox += frame(CONTINUATION, 0 if rest else END_HEADERS, stream_id, chunk)
        if end_stream:
            self._send_windows.pop(stream_id, None)

    def send_window(self, stream_id: int) -> int:
        """How many bytes of data may be sent on the stream now."""
        return min(self.connection_window, self._send_windows.get(stream_id, 0))

    def send_data(self, stream_id: int, data: memoryview) -> int:
        """Queue as much of `data` as the flow-control windows allow; how many bytes were taken."""
        taken = min(self.send_window(stream_id), len(data))
        size = self.max_frame_size
        for offset in range(0, taken, size):
            self._outbox += frame(DATA, 0, stream_id, bytes(data[offset : min(offset + size, taken)]))
        self.connection_window -= taken
        if stream_id in self._send_windows:
            self._send_windows[stream_id] -= taken
        return taken

    def data_to_send(self) -> bytes:
        data = bytes(self._outbox)
        self._outbox.clear()
        return data
