"""Safe loading of ``.npz`` files written by untrusted code.

A participant's output (and, for a reviewer, anything in a folder of cases) is
hostile input. :func:`load_npz` therefore

1. refuses symlinks, special files, empty files and files above ``max_file_bytes``
   (``os.lstat`` first, then ``open`` with ``O_NOFOLLOW`` and an ``fstat`` check that
   it is still the same regular file);
2. opens the file as a zip and sums the members' declared sizes from the central
   directory *before* inflating anything (``zip_bomb`` above
   ``max_decompressed_bytes``);
3. parses each requested member's ``.npy`` header (``numpy.lib.format``, which reads
   it with ``ast.literal_eval``) and refuses object dtypes (``pickled``) without
   unpickling anything; checks that the declared array fits in the member;
4. loads the array with ``allow_pickle=False`` through a stream that raises if the
   member inflates to more than its declared size.

Only the requested keys are inflated. Every failure is a :class:`ContractError`.
"""

from __future__ import annotations

import errno
import functools
import io
import lzma
import math
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.lib.format as npformat

from evalkit.contract.errors import ContractError
from evalkit.contract.safepickle import restricted_loads

#: Most members a case file may hold (np.savez writes one per key; a handful is normal).
MAX_MEMBERS = 256
#: Largest ``.npy`` header accepted (numpy's own default bound).
MAX_HEADER_BYTES = 10_000
#: Largest central directory accepted (bytes): bounds what ``zipfile`` parses up front.
MAX_CENTRAL_DIRECTORY_BYTES = 1 << 20
_NPY_MAGIC = b"\x93NUMPY"
#: What damaged or hostile bytes make zipfile / numpy.lib.format raise (bad CRC, truncated
#: deflate/bzip2/lzma streams, malformed directories and .npy headers).
_DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    NotImplementedError,
    RuntimeError,
    SyntaxError,
)
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

#: ``check(shape, dtype)`` on a member's ``.npy`` header; raises ContractError to refuse it.
HeaderCheck = Callable[[tuple[int, ...], np.dtype], None]


@functools.cache
def default_limits() -> dict[str, int]:
    """The ``[contract]`` section of the bundled challenge file (a fresh copy each call)."""
    from evalkit.config import load_challenge

    return dict(load_challenge().contract)


def _limits(limits: Mapping[str, Any] | None) -> dict[str, int]:
    out = dict(default_limits())
    if limits is not None:
        out.update({k: v for k, v in limits.items() if v is not None})
    return out


def case_name_of(path: str | Path) -> str:
    """Case name of a file: its name without the ``.npz`` suffix."""
    name = Path(path).name
    return name.removesuffix(".npz")


class _BoundedReader(io.RawIOBase):
    """Read-only stream over ``raw`` that raises once more than ``limit`` bytes come out.

    Guards against a member that inflates past the size its zip header declared.
    """

    def __init__(self, raw: io.BufferedIOBase, limit: int, on_overflow) -> None:
        super().__init__()
        self._raw = raw
        self._limit = limit
        self._count = 0
        self._on_overflow = on_overflow

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = self._limit - self._count + 1 if size is None or size < 0 else size
        want = min(want, self._limit - self._count + 1)
        data = self._raw.read(want) if want > 0 else b""
        self._count += len(data)
        if self._count > self._limit:
            self._on_overflow(self._count)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n

    @property
    def consumed(self) -> int:
        return self._count


def _open_regular(path: Path, case: str, max_file_bytes: int):
    """Open ``path`` read-only without following links; check it is a non-empty regular file."""

    def err(reason: str, expected: str, found: str, fix: str = "") -> ContractError:
        return ContractError(reason, case=case, file=path, expected=expected, found=found, fix=fix)

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise err(
            "missing_file", "a file", "nothing at this path", f"write the file {path.name}"
        ) from None
    except OSError as exc:
        raise err(
            "missing_file", "a readable file", f"{type(exc).__name__}: {exc.strerror}"
        ) from None
    if stat.S_ISLNK(st.st_mode):
        raise err(
            "symlink",
            "a regular file",
            "a symbolic link",
            "write the data itself, not a link (links are never followed)",
        )
    if not stat.S_ISREG(st.st_mode):
        raise err(
            "not_regular_file", "a regular file", _kind(st.st_mode), "write a plain .npz file"
        )
    if st.st_size == 0:
        raise err(
            "empty_file",
            "a non-empty .npz file",
            "0 bytes",
            "write the arrays with numpy.savez_compressed",
        )
    if st.st_size > max_file_bytes:
        raise err(
            "too_large",
            f"at most {max_file_bytes} bytes on disk",
            f"{st.st_size} bytes",
            "reduce the file (use numpy.savez_compressed)",
        )
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:  # ELOOP: replaced by a link since lstat
        raise err(
            "symlink" if exc.errno == errno.ELOOP else "missing_file",
            "a readable regular file",
            f"{type(exc).__name__}: {exc.strerror}",
        ) from None
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or (fst.st_ino, fst.st_dev) != (st.st_ino, st.st_dev):
            raise err(
                "not_regular_file",
                "the same regular file throughout the check",
                "a file replaced while being opened",
            )
        if fst.st_size == 0:
            raise err("empty_file", "a non-empty .npz file", "0 bytes")
        if fst.st_size > max_file_bytes:
            raise err(
                "too_large", f"at most {max_file_bytes} bytes on disk", f"{fst.st_size} bytes"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "a special file"


def _read_header(stream, version):
    if version == (1, 0):
        return npformat.read_array_header_1_0(stream, max_header_size=MAX_HEADER_BYTES)
    if version == (2, 0):
        return npformat.read_array_header_2_0(stream, max_header_size=MAX_HEADER_BYTES)
    if version == (3, 0) and hasattr(npformat, "_read_array_header"):
        return npformat._read_array_header(stream, version, max_header_size=MAX_HEADER_BYTES)
    raise ValueError(f"unsupported .npy format version {version}")


def load_npz(
    path: str | Path,
    *,
    keys: Mapping[str, str] | Iterable[str] | None = None,
    max_file_bytes: int | None = None,
    max_decompressed_bytes: int | None = None,
    case: str | None = None,
    optional: Iterable[str] = (),
    header_checks: Mapping[str, HeaderCheck] | None = None,
    objects: Iterable[str] = (),
) -> dict[str, np.ndarray]:
    """Load arrays from an untrusted ``.npz`` file, never unpickling anything unrestricted.

    Parameters
    ----------
    path : path of the ``.npz`` file. Symlinks and special files are refused.
    keys : the keys to load. A mapping ``key -> description`` (the description of what
        is expected, used in a ``missing_key`` message) or a plain iterable of keys.
        ``None`` loads every ``<key>.npy`` member. Keys not listed are never inflated.
    max_file_bytes : largest accepted size on disk (bytes); ``None`` = bundled default.
    max_decompressed_bytes : largest accepted sum of all members' declared
        uncompressed sizes (bytes), checked before inflating; ``None`` = bundled default.
    case : case name used in errors; defaults to the file name without ``.npz``.
    optional : keys among ``keys`` that may be absent (left out of the result).
    header_checks : ``key -> check(shape, dtype)``, called with a member's ``.npy`` header
        before a byte of its data is inflated; a check raises :class:`ContractError` to
        refuse the member (so a small file declaring a huge array of the wrong shape or
        dtype costs no memory).
    objects : keys of organiser files that may hold a pickled object array (CVPR25
        ``boxes``, ``text_prompts``, ``clicks``): such a member is loaded through
        :func:`evalkit.contract.safepickle.restricted_loads` (numpy arrays, lists, dicts,
        strings, numbers and None only) and returned as the object ``ndarray`` numpy
        would give. Every other object member is refused (``pickled``). Never name a key
        of a participant's output here.

    Returns
    -------
    dict mapping each loaded key to its array (in the dtype and shape stored).

    Raises
    ------
    ContractError with reason ``missing_file``, ``symlink``, ``not_regular_file``,
    ``empty_file``, ``too_large``, ``bad_zip`` (not a zip, a plain ``.npy``, corrupt,
    truncated, bad CRC, encrypted, inconsistent ``.npy`` header), ``zip_bomb``,
    ``pickled`` (object dtype) or ``missing_key``.
    """
    path = Path(path)
    case = case if case is not None else case_name_of(path)
    lim = _limits(
        {"max_file_bytes": max_file_bytes, "max_decompressed_bytes": max_decompressed_bytes}
    )
    max_file, max_dec = int(lim["max_file_bytes"]), int(lim["max_decompressed_bytes"])
    if keys is None:
        wanted: dict[str, str] | None = None
    elif isinstance(keys, Mapping):
        wanted = {str(k): str(v) for k, v in keys.items()}
    else:
        wanted = {str(k): "an array" for k in keys}
    optional = set(optional)

    def err(reason, key=None, expected="", found="", fix="") -> ContractError:
        return ContractError(
            reason, case=case, file=path, key=key, expected=expected, found=found, fix=fix
        )

    fh = _open_regular(path, case, max_file)
    with fh:
        magic = fh.read(8)
        fh.seek(0)
        if magic.startswith(_NPY_MAGIC):
            raise err(
                "bad_zip",
                expected="an .npz archive (a zip of .npy members)",
                found="a plain .npy file",
                fix="write the arrays with numpy.savez_compressed(path, key=array, ...)",
            )
        if not magic.startswith(_ZIP_MAGICS):
            raise err(
                "bad_zip",
                expected="an .npz archive (a zip of .npy members)",
                found=f"a file starting with {magic[:4]!r}",
                fix="write the arrays with numpy.savez_compressed",
            )
        _check_central_directory(fh, err)
        try:
            zf = zipfile.ZipFile(fh)
        except _DAMAGED as exc:
            raise err(
                "bad_zip",
                expected="a complete, readable zip archive",
                found=f"a damaged or truncated zip ({exc})",
                fix="write the file again with numpy.savez_compressed",
            ) from None
        with zf:
            return _load_members(zf, wanted, optional, max_dec, err, dict(header_checks or {}),
                                 frozenset(objects))


def _check_central_directory(fh, err) -> None:
    """Bound the zip's central directory (entries and bytes) before ``zipfile`` parses it.

    ``zipfile.ZipFile`` builds a ``ZipInfo`` for every central-directory entry; a
    crafted archive could declare millions. Reads the end-of-central-directory record
    (and its ZIP64 counterpart) only; an archive without one is left to ``zipfile``,
    which rejects it.
    """
    size = fh.seek(0, os.SEEK_END)
    tail_len = min(size, 22 + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    fh.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return
    entries, cd_size = struct.unpack_from("<HI", tail, at + 10)
    loc = at - 20
    if (
        (entries == 0xFFFF or cd_size == 0xFFFFFFFF)
        and loc >= 0
        and tail[loc : loc + 4] == (b"PK\x06\x07")
    ):
        (z64_offset,) = struct.unpack_from("<Q", tail, loc + 8)
        if z64_offset + 56 <= size:
            fh.seek(z64_offset)
            record = fh.read(56)
            fh.seek(0)
            if record[:4] == b"PK\x06\x06":
                entries, cd_size = struct.unpack_from("<QQ", record, 32)
    if entries > MAX_MEMBERS or cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise err(
            "bad_zip",
            expected=f"at most {MAX_MEMBERS} members and a central directory of at most "
            f"{MAX_CENTRAL_DIRECTORY_BYTES} bytes",
            found=f"{entries} members, a central directory of {cd_size} bytes",
            fix="store only the required arrays",
        )


def _load_members(zf, wanted, optional, max_dec, err, header_checks,
                  objects=frozenset()) -> dict[str, np.ndarray]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise err("bad_zip", expected=f"at most {MAX_MEMBERS} members", found=f"{len(infos)}")
    declared = sum(i.file_size for i in infos)
    if declared > max_dec:
        raise err(
            "zip_bomb",
            expected=f"at most {max_dec} bytes once decompressed",
            found=f"members declaring {declared} bytes",
            fix="store only the required keys; large arrays should compress, not inflate",
        )
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if info.filename in members or (
            info.filename.endswith(".npy") and info.filename[:-4] in members
        ):
            raise err("bad_zip", expected="each member once", found=f"'{info.filename}' twice")
        if info.filename.endswith(".npy"):
            members[info.filename[:-4]] = info
    if wanted is None:
        wanted = {k: "an array" for k in members}
    out: dict[str, np.ndarray] = {}
    for key, description in wanted.items():
        info = members.get(key)
        if info is None:
            if key in optional:
                continue
            found = sorted(members)
            shown = ", ".join(repr(k) for k in found[:20]) + (" ..." if len(found) > 20 else "")
            raise err(
                "missing_key",
                key=key,
                expected=description,
                found=f"no such key (keys present: {shown or 'none'})",
                fix=f"save the array under the name '{key}'",
            )
        out[key] = _load_member(zf, info, key, err, header_checks.get(key), key in objects)
    return out


def _load_member(zf, info: zipfile.ZipInfo, key: str, err, header_check=None,
                 restricted_pickle: bool = False) -> np.ndarray:
    if info.flag_bits & 0x1:
        raise err("bad_zip", key=key, expected="an unencrypted member", found="an encrypted member")

    def overflow(count: int) -> None:
        raise err(
            "zip_bomb",
            key=key,
            expected=f"{info.file_size} bytes (declared in the zip)",
            found=f"more than {count - 1} bytes once inflated",
            fix="write the file with numpy.savez_compressed",
        )

    try:
        with zf.open(info) as raw:
            stream = _BoundedReader(raw, info.file_size, overflow)
            version = npformat.read_magic(stream)
            shape, _fortran, dtype = _read_header(stream, version)
            header_len = stream.consumed
            if dtype.hasobject and restricted_pickle:
                data = stream.read(info.file_size - header_len + 1)
                while stream.read(1 << 16):  # drain to EOF so zipfile checks the CRC
                    pass
        if dtype.hasobject and restricted_pickle:
            return _restricted_member(data, shape, dtype, key, err)
        if dtype.hasobject:
            raise err(
                "pickled",
                key=key,
                expected="a numeric array",
                found=f"an object array (dtype {dtype.str}), which would need unpickling",
                fix="save plain numeric arrays; object arrays are never loaded",
            )
        if any(d < 0 for d in shape):
            raise err("bad_zip", key=key, expected="a valid .npy header", found=f"shape {shape}")
        if header_check is not None:
            header_check(tuple(int(d) for d in shape), dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size - header_len:
            raise err(
                "bad_zip",
                key=key,
                expected=f"{nbytes} bytes of data for {dtype} {shape}",
                found=f"a member of {info.file_size - header_len} data bytes",
                fix="write the file again with numpy.savez_compressed",
            )
        with zf.open(info) as raw:
            stream = _BoundedReader(raw, info.file_size, overflow)
            arr = npformat.read_array(stream, allow_pickle=False, max_header_size=MAX_HEADER_BYTES)
            while stream.read(1 << 16):  # drain to EOF so zipfile checks the CRC
                pass
        return arr
    except ContractError:
        raise
    except _DAMAGED as exc:
        raise err(
            "bad_zip",
            key=key,
            expected="a readable .npy member",
            found=f"{type(exc).__name__}: {exc}",
            fix="write the file again with numpy.savez_compressed",
        ) from None


def _restricted_member(data: bytes, shape, dtype, key: str, err) -> np.ndarray:
    """An organiser's object member, unpickled by the restricted loader, as an ndarray of
    the declared shape (what numpy's pickle-enabled loading would return, minus the risk)."""
    probe = err("pickled", key=key)
    obj = restricted_loads(data, what=f"member '{key}'", case=probe.case, file=probe.file,
                           key=key)
    if type(obj) is not np.ndarray or obj.shape != tuple(shape) or obj.dtype != dtype:
        raise err("pickled", key=key, expected=f"an object array of shape {tuple(shape)}",
                  found=f"a pickle holding {type(obj).__name__}",
                  fix="write the member with numpy.savez_compressed")
    return obj
