"""Reading an artifact file and decoding it with msgspec, turning every failure into one `ArtifactError`.

Every loader goes through `read_artifact` and `decode_json`, so a missing file, a directory, an empty
or truncated file, binary garbage, a UTF-16 file and a JSON document of the wrong shape all end as one
clear line naming the file, never as a msgspec or OS traceback.
"""

from __future__ import annotations

import gc
import mmap
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from pipewatch.artifacts.versions import parse_schema_url, wrong_kind_problem
from pipewatch.errors import ArtifactError

T = TypeVar("T")

#: An artifact's bytes: read into memory, or (for large files) a read-only map of the file.
Buffer = bytes | memoryview
#: Files at least this large are memory-mapped rather than read: the decoder reads them once, and
#: a map keeps a 60 MB manifest's bytes in the page cache instead of on the Python heap.
MMAP_THRESHOLD = 4 * 1024 * 1024
#: The largest artifact pipewatch reads: a manifest of 100,000 nodes is a few hundred MB; a file
#: larger than this is a mistake (or a device) that would exhaust memory.
MAX_ARTIFACT_BYTES = 2 * 2**30

#: A JSON scalar, for fields read as text whose type users' YAML may bend (`severity: 1`).
Scalar = str | int | float | bool | None


class Struct(msgspec.Struct, gc=False):
    """Base of every artifact Struct: unknown fields are skipped, and GC tracking is off.

    `gc=False` is safe because decoded artifacts never form reference cycles, and it keeps the
    garbage collector from walking tens of thousands of node objects on large manifests.
    """


class ArtifactMetadata(Struct):
    """The `metadata` block every versioned dbt artifact starts with (the fields pipewatch reads)."""

    dbt_schema_version: str | None = None
    dbt_version: str | None = None
    generated_at: str | None = None
    invocation_id: str | None = None
    adapter_type: str | None = None
    project_name: str | None = None
    project_id: str | None = None  # md5 of the project name


class _Envelope(Struct):
    """Just the metadata, to name the kind of a file that failed to decode as the expected kind."""

    metadata: ArtifactMetadata | None = None


_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def read_artifact(path: Path, what: str) -> Buffer:
    """Read an artifact file's bytes (mapped when large).

    Anything but a regular file of a sane size is an ArtifactError naming the file, checked before
    opening it: opening a FIFO named run_results.json would block forever, and /dev/zero never ends.
    """
    size = _regular_file_size(path, what)
    try:
        with path.open("rb") as handle:
            if size >= MMAP_THRESHOLD:
                try:
                    # The view keeps the map alive; the map outlives the closed file handle.
                    return memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
                except (OSError, ValueError):
                    pass  # a file system without mmap: fall back to reading
            return handle.read(MAX_ARTIFACT_BYTES + 1)
    except FileNotFoundError:
        raise ArtifactError(path, f"{what} not found") from None
    except IsADirectoryError:
        raise ArtifactError(path, f"is a directory, not a dbt {what} file") from None
    except PermissionError:
        raise ArtifactError(path, f"cannot read {what}: permission denied") from None
    except OSError as exc:
        raise ArtifactError(path, f"cannot read {what}: {exc.strerror or exc}") from None


def _regular_file_size(path: Path, what: str) -> int:
    """The size of `path` (symlinks followed) when it is a regular file pipewatch will read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        problem = "a symlink to a file that does not exist" if path.is_symlink() else "not found"
        raise ArtifactError(path, f"{what} {problem}") from None
    except PermissionError:
        raise ArtifactError(path, f"cannot read {what}: permission denied") from None
    except OSError as exc:
        raise ArtifactError(path, f"cannot read {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ArtifactError(path, f"is a directory, not a dbt {what} file")
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _SPECIAL_FILES if test(info.st_mode)), "a special file")
        raise ArtifactError(path, f"is {kind}, not a regular file; expected a dbt {what} file")
    if info.st_size > MAX_ARTIFACT_BYTES:
        raise ArtifactError(
            path,
            f"is {info.st_size / 2**30:.1f} GiB; pipewatch refuses a {what} over "
            f"{MAX_ARTIFACT_BYTES // 2**30} GiB as not what dbt writes",
        )
    return info.st_size


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def release_pages(data: Buffer) -> None:
    """Hand a mapped artifact's pages back to the page cache; reading them again maps them anew.

    A decoder that reads a large file in several passes calls this between them, so the process
    never holds the whole file's pages on top of what it decoded. A no-op for bytes read into memory
    and where the system has no `madvise`.
    """
    mapped = data.obj if isinstance(data, memoryview) else None
    if isinstance(mapped, mmap.mmap) and _DONTNEED is not None:
        # A closed map, or a kernel that refuses: only memory is at stake.
        with suppress(OSError, ValueError):
            mapped.madvise(_DONTNEED)


#: `MADV_DONTNEED` where the platform has it: on a read-only file mapping it drops the process's
#: pages (the data stays in the page cache), never the file's content.
_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)


def load_artifact(path: Path | str, what: str, decode: Callable[[Buffer, str], T]) -> T:
    """Read the dbt `what` artifact at `path` and decode it with `decode(data, source)`, naming the file."""
    path = Path(path)
    return decode(read_artifact(path, what), str(path))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _utf8_error(data: Buffer) -> str | None:
    """Why `data` is not UTF-8 (the byte and its offset), or None when it is."""
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{exc.reason} at byte {exc.start}"
    return None


def _looks_binary(data: Buffer) -> bool:
    # Text files hold no NUL and few control bytes; a JSON file with one bad byte in a string is text.
    head = bytes(data[:4096])
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return b"\x00" in head or controls > len(head) // 100


def _is_blank(data: Buffer) -> bool:
    # Only a file whose first 4 KB are white space is copied to check the rest.
    return not data or (bytes(data[:4096]).isspace() and bytes(data).isspace())


def decode_json(data: Buffer, type_: type[T], source: str, what: str) -> T:
    """Decode `data` as JSON into `type_`; any way it can fail becomes an ArtifactError on `source`.

    `what` names the expected artifact (`manifest`, `run_results`, `sources`) for the message.
    Schema mismatches keep msgspec's own explanation, which includes the JSON path
    (e.g. ``Expected `str`, got `int` - at `$.nodes[...].name` ``).
    """
    if _is_blank(data):
        raise ArtifactError(source, f"empty file; expected a dbt {what} (JSON)")
    payload: Buffer = data
    head = bytes(data[:4])
    if head.startswith(b"\xef\xbb\xbf"):
        payload = memoryview(data)[3:]  # a UTF-8 byte order mark, as some Windows editors add
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            raise ArtifactError(source, f"is {encoding} text; dbt writes {what} as UTF-8 JSON")
    try:
        return msgspec.json.decode(payload, type=type_)
    except msgspec.ValidationError as exc:
        other = sniff_kind(data)
        if other is not None and other[0] != what:
            raise ArtifactError(source, wrong_kind_problem(other[0], what, other[1])) from None
        raise ArtifactError(source, f"not a valid dbt {what}: {_one_line(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise ArtifactError(source, _decode_problem(data, str(exc), what)) from None
    except UnicodeDecodeError as exc:
        raise ArtifactError(source, _decode_problem(data, str(exc), what)) from None
    except RecursionError:
        raise ArtifactError(source, f"JSON nested too deeply to be a dbt {what}") from None


def _decode_problem(data: Buffer, message: str, what: str) -> str:
    # The wording is pipewatch's own: msgspec reports bad UTF-8 as a DecodeError or a
    # UnicodeDecodeError depending on its version, so the bytes decide, not the exception.
    bad = _utf8_error(data)
    if bad is not None:
        if _looks_binary(data):
            return f"not a JSON file (binary data, not UTF-8 text); expected a dbt {what}"
        return f"not valid UTF-8 text ({bad}); expected a dbt {what}"
    if "truncated" in message:
        return f"truncated JSON ({message}); was the file cut off while dbt wrote it?"
    return f"not valid JSON ({_one_line(message)}); expected a dbt {what}"


def sniff_kind(data: Buffer) -> tuple[str, str] | None:
    """The (kind, schema url) a JSON document's metadata names, or None if it names none or won't parse."""
    try:
        envelope = msgspec.json.decode(data, type=_Envelope)
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        return None
    url = envelope.metadata.dbt_schema_version if envelope.metadata else None
    parsed = parse_schema_url(url)
    if parsed is None or url is None:
        return None
    return parsed[0], url


def as_str(value: Any) -> str | None:
    """A scalar as text (numbers as their decimal form), None for None and for containers."""
    if type(value) is str:  # the common case, first: this runs for every node of a manifest
        return value.strip() or None
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while pipewatch builds many objects that form no cycles.

    The one such switch of pipewatch: artifact decoders (`@gc_paused()`) and lineage graph builds
    (`with gc_paused():`, tens of thousands of small int lists) both use it.

    Decoded artifacts form no reference cycles, but allocating tens of thousands of nodes
    triggers repeated full collections that walk every live object; pausing saves ~20% on big
    manifests. The previous state is restored, whatever happens.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
