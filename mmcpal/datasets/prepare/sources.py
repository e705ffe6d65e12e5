"""Reading inputs that are either a folder or a tar archive.

Archives are streamed (``tarfile`` mode ``'r|*'``): a gzip-compressed tar
such as SBD's ``benchmark.tgz`` (1.4 GB) has no random access, so every file
is visited once, in archive order.
"""
import os
import os.path as osp
import re
import tarfile
from typing import Callable, Iterator, Optional, Sequence, Tuple

from .io import atomic_write_bytes

ARCHIVE_SUFFIXES = ('.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tar.xz')

#: A matched file: the regular-expression match on its path and a reader
#: returning its bytes (call it before asking for the next file).
MatchedFile = Tuple['re.Match[str]', Callable[[], bytes]]


def is_archive(path: str) -> bool:
    """Whether ``path`` is a tar archive file (by name, then by content).

    Args:
        path (str): A file or folder.

    Returns:
        bool: True for an existing tar file.
    """
    if not osp.isfile(path):
        return False
    return path.lower().endswith(ARCHIVE_SUFFIXES) or tarfile.is_tarfile(path)


def _safe_member_name(name: str) -> Optional[str]:
    """The member path in posix form, or None when it is unsafe."""
    name = name.replace('\\', '/')
    while name.startswith('./'):
        name = name[2:]
    parts = name.split('/')
    if name.startswith('/') or '..' in parts:
        return None
    return name


def iter_matching_files(path: str,
                        pattern: 're.Pattern[str]') -> Iterator[MatchedFile]:
    """Files of a folder or a tar archive whose path matches ``pattern``.

    Folder files are matched by their absolute posix path, archive members
    by their name inside the archive; ``pattern.fullmatch`` must succeed.
    Links, devices and members with absolute or ``..`` paths are skipped.

    Args:
        path (str): A folder or a tar archive (any compression).
        pattern (re.Pattern): The pattern.

    Yields:
        tuple[re.Match, Callable[[], bytes]]: The match and a reader. For an
        archive the reader is valid only until the next item is requested.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    if osp.isdir(path):
        root = osp.abspath(path)
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                full = osp.join(folder, name)
                match = pattern.fullmatch(full.replace(os.sep, '/'))
                if match and not osp.islink(full):
                    yield match, _file_reader(full)
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'input not found: {path}')
    with tarfile.open(path, mode='r|*') as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = _safe_member_name(member.name)
            match = pattern.fullmatch(name) if name else None
            if match:
                yield match, _member_reader(tar, member, path)


def _file_reader(path: str) -> Callable[[], bytes]:

    def read() -> bytes:
        with open(path, 'rb') as f:
            return f.read()

    return read


def _member_reader(tar: tarfile.TarFile, member: tarfile.TarInfo,
                   archive: str) -> Callable[[], bytes]:

    def read() -> bytes:
        f = tar.extractfile(member)
        if f is None:
            raise ValueError(f'{archive}: cannot read member {member.name}')
        return f.read()

    return read


def extract_archive(
        archive: str,
        pattern: 're.Pattern[str]',
        out_dir: str,
        log: Optional[Callable[[str], None]] = None) -> Tuple[int, int]:
    """Extract the members matching ``pattern`` (group ``rel``) to a folder.

    A member goes to ``<out_dir>/<rel>``; a file already there with the
    member's size is kept (reruns resume), others are written atomically.

    Args:
        archive (str): A tar archive.
        pattern (re.Pattern): Pattern with a named group ``rel``, the path
            below ``out_dir``.
        out_dir (str): Destination folder.
        log (Callable, optional): Progress printer. Defaults to None.

    Returns:
        tuple[int, int]: Files written and files kept.
    """
    written = kept = 0
    with tarfile.open(archive, mode='r|*') as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = _safe_member_name(member.name)
            match = pattern.fullmatch(name) if name else None
            if not match:
                continue
            dst = osp.join(out_dir, *match.group('rel').split('/'))
            if osp.isfile(dst) and osp.getsize(dst) == member.size:
                kept += 1
                continue
            os.makedirs(osp.dirname(dst), exist_ok=True)
            atomic_write_bytes(dst,
                               _member_reader(tar, member, archive)(),
                               fsync=False)
            written += 1
            if log and written % 5000 == 0:
                log(f'  extracted {written} files from {archive}')
    return written, kept


def find_folder(path: str, candidates: Sequence[str], markers: Sequence[str],
                what: str) -> str:
    """The first of ``path/<candidate>`` that holds all ``markers``.

    Args:
        path (str): The folder the user named.
        candidates (Sequence[str]): Relative sub-folders to try ('' = path).
        markers (Sequence[str]): Relative files / folders that must exist.
        what (str): Name of the input, for the error.

    Returns:
        str: The matching folder.

    Raises:
        FileNotFoundError: No candidate holds the markers.
    """
    tried = []
    for cand in candidates:
        folder = osp.join(path, cand) if cand else path
        tried.append(folder)
        if all(osp.exists(osp.join(folder, m)) for m in markers):
            return folder
    raise FileNotFoundError(
        f'{what}: none of {tried} holds {list(markers)}; give the archive '
        f'or the extracted folder')
