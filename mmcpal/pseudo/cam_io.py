"""Reading and writing per-image CAM files (``<cam_dir>/<img_id>.npz``).

A CAM file is an uncompressed ``np.savez`` archive holding

- ``cams``: (K, H, W) float16, the image's K class maps in [0, 1];
- ``keys``: (K,) int64, the mask value (1..C) of each map;
- optional extra arrays, floating ones stored as float16; ``pacam``
  (K, H, W) holds the prototype-aware CAM of the same classes when the cams
  stage ran with ``cam_type`` ``'pacam'`` or ``'fused'``.

Which map a later stage uses is ``cam_type`` (:data:`CAM_TYPES`):
``'cam'`` (the ``cams`` array), ``'pacam'`` (the ``pacam`` array) or
``'fused'`` (computed at load by :func:`fuse_cam_pacam`, never stored).

Files are written atomically: the archive goes to ``<path>.tmp-<pid>`` in the
same folder, is fsynced and then renamed over ``<path>`` with ``os.replace``,
so a reader never sees a half-written file under the final name. An image
with no foreground class (K = 0) is never written.
"""
import os
import os.path as osp
import zipfile
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

CAM_FILE_SUFFIX = '.npz'
_RESERVED = ('cams', 'keys')
# The maps a CAM file can give (``cam_type``) and the arrays each needs.
CAM_TYPES = ('cam', 'pacam', 'fused')
PACAM_KEY = 'pacam'
_NEEDED = dict(cam=('cams', ), pacam=(PACAM_KEY, ), fused=('cams', PACAM_KEY))
# Values a little outside [0, 1] from float rounding are accepted.
_RANGE_TOL = 1e-3


class CAMFileError(ValueError):
    """A CAM file exists but cannot be read (truncated, corrupt, wrong
    content)."""


class MissingMapError(CAMFileError):
    """A CAM file lacks the map a ``cam_type`` needs (e.g. no ``pacam``)."""


def check_cam_type(cam_type: str) -> str:
    """Validate a ``cam_type``.

    Args:
        cam_type (str): One of :data:`CAM_TYPES`.

    Returns:
        str: ``cam_type``.

    Raises:
        ValueError: For any other value.
    """
    if cam_type not in CAM_TYPES:
        raise ValueError(f'cam_type must be one of {CAM_TYPES}, got '
                         f'{cam_type!r}')
    return cam_type


def needed_arrays(cam_type: str) -> Tuple[str, ...]:
    """Arrays a CAM file must hold to give the map ``cam_type``."""
    return _NEEDED[check_cam_type(cam_type)]


def max_normalise(maps: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Divide each (K, H, W) channel by its max + ``eps`` (float32)."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.shape[0] == 0:
        return maps
    peak = maps.reshape(maps.shape[0], -1).max(axis=1)
    return maps / (peak[:, None, None] + eps)


def fuse_cam_pacam(cams: np.ndarray, pacam: np.ndarray) -> np.ndarray:
    """The ``'fused'`` map: mean of the max-normalised CAM and PACAM.

    ``fused_k = N((N(cam_k) + N(pacam_k)) / 2)`` with ``N`` the per-class
    division by the max + 1e-5 [choice: both maps live on [0, 1] after
    max-normalisation, so their mean is the simplest combination that gives
    each map an equal say; the final ``N`` puts each class's peak at 1 again
    like the other two maps].

    Args:
        cams (np.ndarray): (K, H, W) CAMs.
        pacam (np.ndarray): (K, H, W) PACAMs of the same classes.

    Returns:
        np.ndarray: (K, H, W) float32 in [0, 1].
    """
    cams = np.asarray(cams, dtype=np.float32)
    pacam = np.asarray(pacam, dtype=np.float32)
    if cams.shape != pacam.shape:
        raise ValueError(f'fuse_cam_pacam: cams {cams.shape} and pacam '
                         f'{pacam.shape} differ in shape')
    return max_normalise(0.5 * (max_normalise(cams) + max_normalise(pacam)))


def cam_path(cam_dir: str, img_id: str) -> str:
    """Path of the CAM file of one image.

    Args:
        cam_dir (str): Folder of CAM files.
        img_id (str): Image id, e.g. ``'2007_000032'``.

    Returns:
        str: ``<cam_dir>/<img_id>.npz``.
    """
    return osp.join(cam_dir, img_id + CAM_FILE_SUFFIX)


def _check_arrays(path: str, cams: np.ndarray, keys: np.ndarray) -> None:
    """Validate the arrays handed to :func:`save_cams`."""
    if cams.ndim != 3:
        raise ValueError(f'save_cams({path!r}): cams must be (K, H, W), '
                         f'got shape {cams.shape}')
    if keys.ndim != 1 or keys.shape[0] != cams.shape[0]:
        raise ValueError(f'save_cams({path!r}): keys must be (K,) with '
                         f'K={cams.shape[0]} (one key per map), got shape '
                         f'{keys.shape}')
    if cams.shape[0] == 0:
        raise ValueError(f'save_cams({path!r}): K=0 maps; images without '
                         'foreground classes must not be written')
    if not np.issubdtype(keys.dtype, np.integer):
        raise ValueError(f'save_cams({path!r}): keys must be integers '
                         f'(mask values 1..C), got dtype {keys.dtype}')
    if keys.min() < 1:
        raise ValueError(f'save_cams({path!r}): keys must be foreground '
                         f'mask values >= 1 (0 is background), got '
                         f'{keys.tolist()}')
    if len(np.unique(keys)) != len(keys):
        raise ValueError(f'save_cams({path!r}): keys must be unique, got '
                         f'{keys.tolist()}')
    if not np.issubdtype(cams.dtype, np.floating):
        raise ValueError(f'save_cams({path!r}): cams must be floating point, '
                         f'got dtype {cams.dtype}')
    if cams.size and not np.isfinite(cams).all():
        raise ValueError(f'save_cams({path!r}): cams contain NaN or inf')
    if cams.size and (cams.min() < -_RANGE_TOL or cams.max() > 1 + _RANGE_TOL):
        raise ValueError(f'save_cams({path!r}): cams must be normalised to '
                         f'[0, 1], got range [{float(cams.min()):.4g}, '
                         f'{float(cams.max()):.4g}]')


def save_cams(path: str,
              cams: np.ndarray,
              keys: np.ndarray,
              extra: Optional[Dict[str, np.ndarray]] = None) -> None:
    """Write one image's CAMs atomically.

    Args:
        path (str): Destination, ending in ``.npz``; its folder must exist.
        cams (np.ndarray): (K, H, W) floating maps in [0, 1], K >= 1. Stored
            as float16.
        keys (np.ndarray): (K,) integer mask values (1..C) of the maps,
            unique. Stored as int64.
        extra (dict[str, np.ndarray], optional): More arrays to store (e.g.
            ``pacam``); names must not be ``cams``/``keys``; floating arrays
            are stored as float16, others as given (no object arrays).
            Defaults to None.

    Raises:
        ValueError: On a bad path or arrays (the message names the path).
    """
    path = os.fspath(path)
    if not path.endswith(CAM_FILE_SUFFIX):
        raise ValueError(f'save_cams: path must end with '
                         f'{CAM_FILE_SUFFIX!r}, got {path!r}')
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        raise ValueError(f'save_cams: folder {folder!r} of {path!r} does '
                         'not exist')
    cams = np.asarray(cams)
    keys = np.asarray(keys)
    _check_arrays(path, cams, keys)
    arrays = dict(cams=cams.astype(np.float16), keys=keys.astype(np.int64))
    for name, value in (extra or {}).items():
        if not isinstance(name, str) or name in _RESERVED:
            raise ValueError(f'save_cams({path!r}): extra key {name!r} is '
                             f'not allowed (reserved: {_RESERVED})')
        value = np.asarray(value)
        if value.dtype == object:
            raise ValueError(f'save_cams({path!r}): extra[{name!r}] is an '
                             'object array; only numeric arrays are stored')
        if np.issubdtype(value.dtype, np.floating):
            value = value.astype(np.float16)
        arrays[name] = value

    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            # A file object keeps numpy from appending another '.npz'.
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def load_cam_arrays(path: str) -> Dict[str, np.ndarray]:
    """Read every array of a CAM file (``cams``, ``keys`` and extras).

    Args:
        path (str): A ``.npz`` CAM file.

    Returns:
        dict[str, np.ndarray]: Arrays as stored (``cams`` float16).

    Raises:
        FileNotFoundError: The file does not exist.
        CAMFileError: The file is truncated, corrupt or lacks
            ``cams``/``keys``.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'CAM file {path!r} does not exist')
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError,
            KeyError) as err:
        raise CAMFileError(f'CAM file {path!r} is truncated or corrupt '
                           f'({type(err).__name__}: {err})') from err
    missing = [name for name in _RESERVED if name not in arrays]
    if missing:
        raise CAMFileError(f'CAM file {path!r} lacks arrays {missing} '
                           f'(has {sorted(arrays)})')
    cams, keys = arrays['cams'], arrays['keys']
    if cams.ndim != 3 or keys.ndim != 1 or keys.shape[0] != cams.shape[0]:
        raise CAMFileError(f'CAM file {path!r}: expected cams (K, H, W) and '
                           f'keys (K,), got {cams.shape} and {keys.shape}')
    return arrays


def missing_map_message(path: str, cam_type: str,
                        arrays: Dict[str, np.ndarray]) -> str:
    """The error text for a CAM file that cannot give ``cam_type``."""
    missing = [n for n in needed_arrays(cam_type) if n not in arrays]
    return (f'CAM file {path!r} has no {missing} array, which '
            f'cam_type={cam_type!r} needs (has {sorted(arrays)}); re-run '
            'the cams stage with --cam-type pacam (a model with a CPAL '
            'branch, model.cpal) to store the PACAM')


def select_map(arrays: Dict[str, np.ndarray], cam_type: str,
               path: str = '<arrays>') -> np.ndarray:
    """The map ``cam_type`` from the arrays of a CAM file.

    Args:
        arrays (dict[str, np.ndarray]): From :func:`load_cam_arrays`.
        cam_type (str): ``'cam'``, ``'pacam'`` or ``'fused'``
            (:func:`fuse_cam_pacam`).
        path (str): The file, for the error message.

    Returns:
        np.ndarray: (K, H, W) float32, one map per key.

    Raises:
        MissingMapError: The file lacks an array ``cam_type`` needs.
    """
    if any(n not in arrays for n in needed_arrays(cam_type)):
        raise MissingMapError(missing_map_message(path, cam_type, arrays))
    if cam_type == 'cam':
        return arrays['cams'].astype(np.float32)
    pacam = arrays[PACAM_KEY].astype(np.float32)
    if pacam.shape != arrays['cams'].shape:
        raise CAMFileError(f'CAM file {path!r}: pacam {pacam.shape} and '
                           f'cams {arrays["cams"].shape} differ in shape')
    if cam_type == 'pacam':
        return pacam
    return fuse_cam_pacam(arrays['cams'], pacam)


def load_cams(path: str,
              cam_type: str = 'cam') -> Tuple[np.ndarray, np.ndarray]:
    """Read the maps of one image.

    Args:
        path (str): A ``.npz`` CAM file written by :func:`save_cams`.
        cam_type (str): Which map: ``'cam'`` (the default), ``'pacam'`` or
            ``'fused'`` (see :func:`select_map`).

    Returns:
        tuple[np.ndarray, np.ndarray]: The maps (K, H, W) float32 and
        ``keys`` (K,) int64 mask values 1..C.

    Raises:
        FileNotFoundError: The file does not exist.
        CAMFileError: The file is truncated or corrupt (a ValueError).
        MissingMapError: The file lacks the PACAM ``cam_type`` needs.
    """
    check_cam_type(cam_type)
    arrays = load_cam_arrays(path)
    return (select_map(arrays, cam_type, path),
            arrays['keys'].astype(np.int64))


def is_complete(path: str, cam_type: str = 'cam') -> bool:
    """Whether ``path`` is a fully written, loadable CAM file.

    Args:
        path (str): A ``.npz`` CAM file.
        cam_type (str): The file must also hold what this map needs (a
            ``pacam`` array for ``'pacam'``/``'fused'``). Defaults to
            ``'cam'``.

    Returns:
        bool: True only if the file exists, every array reads back (the
        zip CRCs are checked while reading) and the arrays ``cam_type``
        needs are there.
    """
    needed = needed_arrays(cam_type)
    try:
        arrays = load_cam_arrays(path)
    except (FileNotFoundError, CAMFileError):
        return False
    return all(n in arrays for n in needed)


def check_cam_dir(cam_dir: str, ids: Sequence[str], cam_type: str) -> None:
    """Fail early when the first CAM file of ``ids`` lacks ``cam_type``.

    Args:
        cam_dir (str): Folder of CAM files.
        ids (sequence[str]): Image ids; the first one with a readable file
            is checked (none: nothing to check).
        cam_type (str): The map a stage will read.

    Raises:
        MissingMapError: That file cannot give ``cam_type`` (the message
            names the file and the fix).
    """
    check_cam_type(cam_type)
    for img_id in ids:
        path = cam_path(cam_dir, img_id)
        try:
            arrays = load_cam_arrays(path)
        except (FileNotFoundError, CAMFileError):
            continue
        if any(n not in arrays for n in needed_arrays(cam_type)):
            raise MissingMapError(missing_map_message(path, cam_type,
                                                      arrays))
        return
