"""The provider's GetProviderSchema answer kept on disk, so that a launch that only reads schemas imports no provider.

Terraform starts a provider several times per command, and the first start of each command only asks for the
schema. The schema is a pure function of the provider's source files, so the answer (the serialized response) is
stored beside their byte code (and, like it, only where byte code is written), under a listing of every source
file with its size and modification time; it is used only while that listing is exactly the same. A cache that
cannot be read or written is no cache.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


class SchemaCache:
    """The cached answer of one provider, whose schema is defined by the files under `sources`."""

    def __init__(self, sources: tuple[str, ...], name: str) -> None:
        self._sources = sources
        self._path = os.path.join(sources[0], "__pycache__", f"tfplugin6-schema.{_file_name(name)}.bin")

    def load(self) -> bytes | None:
        """The stored answer, if the sources are still those it was made from."""
        try:
            with open(self._path, "rb") as stored:
                data = stored.read()
        except OSError:
            return None
        listing, separator, answer = data.partition(b"\0")
        return answer if separator and listing == self._listing() else None

    def store(self, answer: bytes) -> None:
        """Keep `answer` for the sources as they are now; concurrent launches each write a whole file.

        Nothing is written where Python writes no byte code (`-B`, PYTHONDONTWRITEBYTECODE): an installed
        package's files are checked against Terraform's lock file, and a file added among them would fail it.
        """
        if sys.dont_write_bytecode:
            return
        temporary = f"{self._path}.{os.getpid()}"
        try:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            with open(temporary, "wb") as out:
                out.write(self._listing() + b"\0" + answer)
            os.replace(temporary, self._path)
        except OSError as err:
            log.debug("schema cache not written: %s", err)
            try:
                os.unlink(temporary)
            except OSError:
                pass

    def _listing(self) -> bytes:
        entries: list[str] = []
        for source in self._sources:
            _list_sources(source, entries)
        return "\n".join(sorted(entries)).encode("utf-8", "surrogateescape")


def _list_sources(path: str, entries: list[str]) -> None:
    try:
        if os.path.isdir(path):
            with os.scandir(path) as children:
                for child in children:
                    if child.is_dir(follow_symlinks=False) and child.name != "__pycache__":
                        _list_sources(child.path, entries)
                    elif child.name.endswith(".py"):
                        stat = child.stat()
                        entries.append(f"{child.path} {stat.st_size} {stat.st_mtime_ns}")
        else:
            stat = os.stat(path)
            entries.append(f"{path} {stat.st_size} {stat.st_mtime_ns}")
    except OSError:
        entries.append(f"{path} unreadable")


def _file_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text)
