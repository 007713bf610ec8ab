"""proto3 messages in their wire form, declared field by field: what tfplugin6 needs and no more.

A message class lists its fields (`fields = (Field(1, "name", STRING), ...)`); `encode()` gives the
message's bytes and `Message.decode(data)` reads them. Following proto3: a scalar at its zero value,
an empty list and an unset (None) message are not written, except for fields with presence (`optional`
and oneof members), which are written whenever they are not None; unknown fields are skipped; a message
field that appears twice is merged. Maps are `map<string, X>` only, written as entries of key 1 and value 2.

The protobuf runtime would do all of this, but importing it costs ~15 ms in every launch that decodes a
request, more than decoding and encoding a whole plan's messages here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

# Kinds of field, each with its wire type (kind & 7).
STRING = 0x12
BYTES = 0x22
MESSAGE = 0x32
BOOL = 0x40
INT64 = 0x50
INT32 = 0x60  # enums too
_LENGTH_DELIMITED = 2
_VARINT = 0
_UINT64 = (1 << 64) - 1


class DecodeError(ValueError):
    """Bytes that are not the message they are read as; the message says where."""


class Field:
    """One field: its number, name and kind; `message` names the class of a MESSAGE field. A `map` field is
    map<string, kind>."""

    __slots__ = ("_key", "always", "kind", "map_of", "message", "name", "number", "oneof", "presence", "repeated")

    def __init__(
        self,
        number: int,
        name: str,
        kind: int,
        message: str | None = None,
        *,
        repeated: bool = False,
        map: bool = False,
        presence: bool = False,
        oneof: str | None = None,
    ) -> None:
        if repeated and kind != MESSAGE:
            raise TypeError(f"{name}: only repeated messages are supported")
        if map and kind not in (STRING, MESSAGE):
            raise TypeError(f"{name}: only maps of strings or messages are supported")
        self.number = number
        self.name = name
        self.kind = MESSAGE if map else kind  # a map is written as repeated entry messages
        self.message = message
        self.repeated = repeated
        self.map_of = kind if map else None  # the kind of a map's values; its keys are strings
        self.presence = presence or oneof is not None
        self.oneof = oneof
        self.always = self.presence or self.kind == MESSAGE  # written whenever not None, even at a zero value
        self._key = _varint((number << 3) | (self.kind & 7))

    def default(self) -> Any:
        if self.repeated:
            return []
        if self.map_of is not None:
            return {}
        if self.presence or self.kind == MESSAGE:
            return None
        return _ZERO[self.kind]


_ZERO: dict[int, Any] = {STRING: "", BYTES: b"", BOOL: False, INT64: 0, INT32: 0}


class Message:
    """A proto3 message; subclasses set `fields`. Fields are plain attributes, message fields hold a
    Message or None (unset), repeated fields a list, maps a dict."""

    fields: ClassVar[tuple[Field, ...]] = ()
    _by_number: ClassVar[dict[int, Field]]
    _classes: ClassVar[dict[str, type[Message]]]  # the class of each MESSAGE field (and map entry), by field name
    _defaults: ClassVar[dict[str, Any]]  # the immutable zero values
    _containers: ClassVar[tuple[tuple[str, type[list[Any]] | type[dict[str, Any]]], ...]]

    def __init_subclass__(cls) -> None:
        cls._by_number = {field.number: field for field in cls.fields}
        cls._classes = {}
        cls._defaults = {f.name: f.default() for f in cls.fields if not (f.repeated or f.map_of is not None)}
        cls._containers = tuple(
            (f.name, list if f.repeated else dict) for f in cls.fields if f.name not in cls._defaults
        )

    def __init__(self, **values: Any) -> None:
        self._clear()
        own = self.__dict__
        for name, value in values.items():
            if name not in own:
                raise TypeError(f"{type(self).__qualname__} has no field {name!r}")
            own[name] = value

    if TYPE_CHECKING:  # fields are declared in `fields`, not as annotations

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.fields if _is_set(f, self))
        return f"{type(self).__qualname__}({shown})"

    def encode(self) -> bytes:
        out: list[bytes] = []
        own = self.__dict__
        for field in self.fields:
            value = own[field.name]
            if field.repeated:
                for item in value:
                    _append(out, field._key, item.encode())
            elif field.map_of is not None:
                for key, item in value.items():  # key and value always written, as protobuf's runtimes do
                    entry = b"\x0a" + _length(key.encode()) + b"\x12" + _encode_scalar(field.map_of, item)
                    _append(out, field._key, entry)
            elif value is not None and (field.always or value != _ZERO[field.kind]):
                out.append(field._key)
                out.append(_encode_scalar(field.kind, value))
        return b"".join(out)

    @classmethod
    def decode(cls, data: bytes) -> Any:
        """The message in `data`; DecodeError names the field that is not what it should be."""
        message = cls.__new__(cls)
        message._clear()
        message._merge(bytes(data))
        return message

    def _clear(self) -> None:
        own = self.__dict__
        own.update(self._defaults)
        for name, container in self._containers:
            own[name] = container()

    def _merge(self, data: bytes) -> None:
        cls = type(self)
        by_number = cls._by_number
        own = self.__dict__
        position, end = 0, len(data)
        while position < end:
            tag = data[position]
            if tag < 0x80:  # one byte: every tfplugin6 field's key (and most lengths)
                position += 1
            else:
                tag, position = _read_varint(data, position, cls)
            wire_type = tag & 7
            field = by_number.get(tag >> 3)
            if wire_type == _LENGTH_DELIMITED:
                if position < end and data[position] < 0x80:
                    length = data[position]
                    position += 1
                else:
                    length, position = _read_varint(data, position, cls)
                if position + length > end:
                    raise DecodeError(f"{cls.__qualname__}: truncated field {tag >> 3}")
                value: Any = data[position : position + length]
                position += length
            elif wire_type == _VARINT:
                value, position = _read_varint(data, position, cls)
            elif wire_type == 1 or wire_type == 5:  # fixed64, fixed32: no tfplugin6 field, skipped
                position += 8 if wire_type == 1 else 4
                if position > end:
                    raise DecodeError(f"{cls.__qualname__}: truncated field {tag >> 3}")
                continue
            else:
                raise DecodeError(f"{cls.__qualname__}: unsupported wire type {wire_type} (field {tag >> 3})")
            if field is None:
                continue
            kind = field.kind
            if wire_type != kind & 7:
                raise DecodeError(f"{cls.__qualname__}.{field.name}: wire type {wire_type}, expected {kind & 7}")
            if kind == MESSAGE:
                self._set_message(field, value)
                continue
            if kind == STRING:
                value = _text(value, self, field.name)
            elif kind == BOOL:
                value = value != 0
            elif kind != BYTES and value >> 63:  # INT64, INT32: two's complement in 64 bits
                value -= 1 << 64
            if field.oneof is not None:
                for other in cls.fields:
                    if other.oneof == field.oneof:
                        own[other.name] = None
            own[field.name] = value

    def _set_message(self, field: Field, data: bytes) -> None:
        own = self.__dict__
        message_class = self._message_class(field)
        if field.map_of is not None:
            entry = message_class.decode(data)
            item = entry.value
            if item is None:  # an entry without its value holds the empty message
                item = entry._message_class(entry.fields[1])()
            own[field.name][entry.key] = item
        elif field.repeated:
            own[field.name].append(message_class.decode(data))
        elif own[field.name] is None:
            own[field.name] = message_class.decode(data)
        else:
            own[field.name]._merge(data)

    @classmethod
    def _message_class(cls, field: Field) -> type[Message]:
        found = cls._classes.get(field.name)
        if found is None:
            raise TypeError(f"{cls.__qualname__}.{field.name}: message class {field.message!r} not resolved")
        return found


def resolve(namespace: dict[str, Any]) -> None:
    """Binds every MESSAGE field of the messages in `namespace` (a module's globals) to its class, named by
    its dotted path in that module ("Schema.Attribute")."""
    for owner in _message_classes(namespace):
        for field in owner.fields:
            target = None
            if field.message is not None:
                found: Any = namespace
                for part in field.message.split("."):
                    found = found[part] if isinstance(found, dict) else getattr(found, part)
                target = found
            if field.map_of is not None:
                owner._classes[field.name] = _map_entry(owner, field.name, field.map_of, target)
            elif target is not None:
                owner._classes[field.name] = target


def _map_entry(owner: type[Message], name: str, value_kind: int, value_class: type[Message] | None) -> type[Message]:
    """The entry message the map field `name` is written as: key 1, value 2."""

    class Entry(Message):
        fields = (Field(1, "key", STRING), Field(2, "value", value_kind))

    Entry.__qualname__ = f"{owner.__qualname__}.{name}Entry"
    if value_class is not None:
        Entry._classes["value"] = value_class
    return Entry


def _message_classes(namespace: dict[str, Any]) -> list[type[Message]]:
    found: list[type[Message]] = []
    pending = [value for value in namespace.values() if isinstance(value, type)]
    while pending:
        value = pending.pop()
        if issubclass(value, Message) and value is not Message and value not in found:
            found.append(value)
        pending.extend(v for v in vars(value).values() if isinstance(v, type) and v.__module__ == value.__module__)
    return found


def _is_set(field: Field, message: Message) -> bool:
    value = getattr(message, field.name)
    return value is not None and (field.presence or value != field.default())


def _encode_scalar(kind: int, value: Any) -> bytes:
    if kind in (MESSAGE, STRING):
        return _length(value.encode())
    if kind == BYTES:
        return _length(value)
    if kind == BOOL:
        return b"\x01" if value else b"\x00"
    return _varint(value & _UINT64)


def _text(data: bytes, owner: Message, name: str) -> str:
    try:
        return bytes(data).decode()
    except UnicodeDecodeError as err:
        raise DecodeError(f"{type(owner).__qualname__}.{name}: not UTF-8 ({err.reason})") from None


def _append(out: list[bytes], key: bytes, encoded: bytes) -> None:
    out.append(key)
    out.append(_length(encoded))


def _length(data: bytes) -> bytes:
    size = len(data)
    return (bytes((size,)) if size < 0x80 else _varint(size)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, position: int, owner: type[Message]) -> tuple[int, int]:
    try:
        byte = data[position]
        if byte < 0x80:
            return byte, position + 1
        value, shift = byte & 0x7F, 7
        while True:
            position += 1
            byte = data[position]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value & _UINT64, position + 1
            shift += 7
            if shift >= 70:
                raise DecodeError(f"{owner.__qualname__}: varint longer than 10 bytes")
    except IndexError:
        raise DecodeError(f"{owner.__qualname__}: truncated varint") from None
