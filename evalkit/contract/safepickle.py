"""A restricted unpickler for organiser files that hold pickled members.

The CVPR25 inputs keep some members as pickled object arrays: ``boxes`` (one
dict per class), ``text_prompts`` (a dict of class id -> description),
``clicks`` / ``clicks_order``. The official scripts read them with
numpy's pickle-enabled loading, which runs whatever code a pickle names. evalkit reads
them with :func:`restricted_loads`, which admits only what those members are
made of:

* numpy arrays (numeric, string or object dtype) and numpy scalars;
* ``list``, ``tuple``, ``dict``, ``str``, ``int``, ``float``, ``bool``, ``None``
  (and ``bytes``, which numpy scalars are made from).

A pickle that names any other global (``os.system``, ``builtins.eval``, a class
of some module, ...) is refused before anything it names is called: the error
is a :class:`ContractError` with reason ``pickled``. The callables a numpy
pickle needs are admitted as guarded wrappers: the array constructor only
builds the empty shell numpy's own pickles build (its data comes from the
pickle's bytes, so nothing is allocated beyond what the file holds), and
``numpy.ndarray`` itself cannot be called. After loading, the object is walked
once (depth and element count bounded) so that nothing else slipped in.

Participant outputs never go through here: they stay pickle-free
(:func:`evalkit.contract.npz.load_npz` refuses object arrays unless the caller
names the key in ``objects``).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from evalkit.contract.errors import ContractError

#: Deepest nesting accepted in a loaded member (a list of dicts of lists is depth 3).
MAX_DEPTH = 16
#: Most containers + leaves accepted in one loaded member.
MAX_ITEMS = 1_000_000

_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")


class _NotCallable:
    """Stands in for ``numpy.ndarray`` in a pickle: usable as ``_reconstruct``'s subtype,
    refused when a pickle tries to call it (which could allocate any shape)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("calling numpy.ndarray directly is not admitted")


_NDARRAY = _NotCallable()


def _reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """numpy's ``_reconstruct`` for a plain ndarray shell of shape ``(0,)`` (its pickles'
    only use); the array's data arrives afterwards through ``__setstate__``."""
    if subtype is not _NDARRAY or tuple(shape) != (0,) or dtype_code != b"b":
        raise pickle.UnpicklingError(
            f"numpy _reconstruct called with {subtype!r}, {shape!r}, {dtype_code!r}: "
            "not how numpy pickles an array")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)


def _scalar(dtype: Any, data: Any = None) -> Any:
    """numpy's ``scalar(dtype, bytes)`` for numeric/string scalars; object scalars only
    wrap an object that was itself admitted."""
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError(f"numpy scalar with dtype {dtype!r}")
    if dtype.hasobject:
        return data
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar of {dtype} from {type(data).__name__}")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """``numpy.dtype`` from a type code string (numpy pickles ``dtype('O8', False, True)``)."""
    if not isinstance(obj, str):
        raise pickle.UnpicklingError(f"numpy dtype from {type(obj).__name__}")
    return np.dtype(obj, align=bool(align), copy=bool(copy))


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (latin-1 text only)."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("_codecs.encode is admitted for latin1 text only")
    return text.encode("latin1")


_ADMITTED: dict[tuple[str, str], Any] = {("numpy", "ndarray"): _NDARRAY,
                                         ("numpy", "dtype"): _dtype,
                                         ("_codecs", "encode"): _encode}
for _mod in _NUMPY_CORE:
    _ADMITTED[(_mod, "_reconstruct")] = _reconstruct
    _ADMITTED[(_mod, "scalar")] = _scalar


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ADMITTED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"the pickle names {module}.{name}, which is not "
                                         "admitted") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not admitted")


def check_plain(obj: Any, *, depth: int = 0, budget: list[int] | None = None) -> None:
    """Raise ``ValueError`` unless ``obj`` is made only of the admitted types.

    Admitted: numpy arrays and scalars (object arrays are walked element by element),
    ``list``, ``tuple``, ``dict`` (keys admitted leaves), ``str``, ``bytes``, ``int``,
    ``float``, ``bool`` and ``None``. Depth is bounded by :data:`MAX_DEPTH`, the total
    count of containers and leaves by :data:`MAX_ITEMS`.
    """
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"more than {MAX_ITEMS} items")
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    if obj is None or type(obj) in (str, bytes, int, float, bool):
        return
    if isinstance(obj, np.generic) and not isinstance(obj, np.object_):
        return
    if type(obj) is np.ndarray:
        if obj.dtype.hasobject:
            if obj.dtype != np.dtype(object):
                raise ValueError(f"a structured object dtype {obj.dtype}")
            for item in obj.flat:
                check_plain(item, depth=depth + 1, budget=budget)
        elif obj.dtype.kind not in "biufcUSV" or obj.dtype.fields is not None:
            raise ValueError(f"an array of dtype {obj.dtype}")
        return
    if type(obj) in (list, tuple):
        for item in obj:
            check_plain(item, depth=depth + 1, budget=budget)
        return
    if type(obj) is dict:
        for key, value in obj.items():
            check_plain(key, depth=depth + 1, budget=budget)
            check_plain(value, depth=depth + 1, budget=budget)
        return
    raise ValueError(f"an object of type {type(obj).__module__}.{type(obj).__qualname__}")


def restricted_loads(data: bytes, *, what: str = "a pickled member", case: str | None = None,
                     file: Any = None, key: str | None = None) -> Any:
    """Unpickle ``data`` admitting only numpy arrays/scalars and plain Python values.

    ``what``, ``case``, ``file`` and ``key`` name the member in the error. Returns the
    loaded object (for a numpy object-array member: the object ``ndarray``).

    Raises :class:`ContractError` (reason ``pickled``) when the pickle names anything
    else, is malformed, or loads to something that is not plain data; nothing the pickle
    names outside the admitted set is ever imported or called.
    """
    try:
        obj = _Unpickler(io.BytesIO(data)).load()
        check_plain(obj)
    except (pickle.UnpicklingError, ValueError, TypeError, EOFError, AttributeError,
            IndexError, KeyError, OverflowError, MemoryError, RecursionError) as exc:
        raise ContractError(
            "pickled", case=case, file=file, key=key,
            expected=f"{what}: numpy arrays, lists, dicts, strings, numbers and None only",
            found=f"a pickle that is refused ({type(exc).__name__}: {exc})"[:500],
            fix="write the member with numpy.savez_compressed from plain lists/dicts",
        ) from None
    return obj
