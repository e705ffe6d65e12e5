"""A resumable, sharded per-image job runner (CAMs, masks, IR labels, ...).

:func:`run_image_job` calls ``process_fn(img_id)`` for every id whose output
is not finished yet (``is_done(img_id)``), on the ids of this process's shard:
id number ``i`` belongs to rank ``i % world_size``, so under ``torchrun``
every image is written by exactly one process. Outputs must be written
atomically (see ``cam_io.save_cams`` / ``mask_io.save_mask``) so that a run
killed half-way leaves either a finished file or none, and a rerun resumes.

Failures policy [choice]:

- ``process_fn`` raises :class:`SkipImage` (``reason``, ``detail``) for an
  expected per-image problem (missing / unreadable image, no class, ...):
  the image is counted under ``reason`` and the job goes on.
- Any other ``Exception`` is also caught and counted under its class name,
  with its message logged, unless ``catch_errors=False`` (then it propagates,
  for debugging).
- ``KeyboardInterrupt`` / ``SystemExit`` (not ``Exception``) always
  propagate: an interrupted job is resumed by running it again.
"""
import os
import os.path as osp
import sys
import time
from dataclasses import dataclass, field
from io import BytesIO
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine import dist
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from PIL import Image


class SkipImage(Exception):
    """Raised by a job's ``process_fn`` to skip one image, with a reason.

    Args:
        reason (str): Short category used to count failures, e.g.
            ``'missing image'``.
        detail (str): Free text (file name, ...). Defaults to ''.
    """

    def __init__(self, reason: str, detail: str = '') -> None:
        super().__init__(f'{reason}: {detail}' if detail else reason)
        self.reason = reason
        self.detail = detail


class ImageReadError(SkipImage, OSError):
    """An input image is missing or cannot be decoded (a :class:`SkipImage`
    for the job runner, an ``OSError`` for everyone else)."""


def _pil_decode_error(data: bytes) -> Optional[str]:
    """Pillow's complaint about the bytes of an image (None if it decodes)."""
    try:
        with Image.open(BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as err:
        return str(err) or type(err).__name__
    return None


def load_image_checked(path: str, check_truncated: bool = True) -> np.ndarray:
    """Read an image as BGR uint8, with a clear error for bad files.

    Decoded with OpenCV (``cv2.IMREAD_COLOR``, like MMCV's default
    ``LoadImageFromFile``). ``cv2`` returns None for undecodable bytes and,
    depending on its version, either None or a grey-filled image for a
    truncated JPEG, so the bytes are also fully decoded by Pillow, which
    raises on truncation and names the problem.

    Args:
        path (str): Image file.
        check_truncated (bool): Also decode with Pillow to catch truncated
            files OpenCV accepts (only Pillow's "truncated" errors count).
            Defaults to True.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR.

    Raises:
        ImageReadError: ``reason`` ``'missing image'``, ``'unreadable
            image'`` or ``'truncated image'``; the message names the file.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise ImageReadError('missing image', f'{path!r} does not exist')
    with open(path, 'rb') as f:
        data = f.read()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    pil_error = _pil_decode_error(data) \
        if img is None or check_truncated else None
    if pil_error is not None and 'truncated' in pil_error.lower():
        raise ImageReadError('truncated image', f'{path!r}: {pil_error}')
    if img is None:
        raise ImageReadError(
            'unreadable image', f'{path!r} cannot be decoded ({len(data)} '
            f'bytes; {pil_error or "OpenCV failed"})')
    # Other Pillow errors are ignored: OpenCV reads formats Pillow lacks.
    return img


@dataclass
class JobSummary:
    """Counts of one :func:`run_image_job` call (all ranks after a gather).

    Attributes:
        total (int): Ids given (all shards).
        done (int): Images processed by this run.
        skipped_done (int): Images whose output was already finished.
        failed (dict[str, list[str]]): Failed image ids by reason.
        seconds (float): Wall time of the run (slowest rank).
        busy_seconds (float): Time spent in ``process_fn`` on images
            processed now, summed over ranks.
    """
    total: int = 0
    done: int = 0
    skipped_done: int = 0
    failed: Dict[str, List[str]] = field(default_factory=dict)
    seconds: float = 0.0
    busy_seconds: float = 0.0

    @property
    def num_failed(self) -> int:
        """Number of failed images."""
        return sum(len(v) for v in self.failed.values())

    @property
    def seconds_per_image(self) -> float:
        """Processing time per image done now, per process (0 if none)."""
        return self.busy_seconds / self.done if self.done else 0.0

    def merge(self, other: 'JobSummary') -> 'JobSummary':
        """Sum of two shards' summaries (``total`` is shared, not summed)."""
        failed = {k: list(v) for k, v in self.failed.items()}
        for reason, ids in other.failed.items():
            failed.setdefault(reason, []).extend(ids)
        return JobSummary(
            total=max(self.total, other.total),
            done=self.done + other.done,
            skipped_done=self.skipped_done + other.skipped_done,
            failed=failed,
            seconds=max(self.seconds, other.seconds),
            busy_seconds=self.busy_seconds + other.busy_seconds)

    def format(self, desc: str = '') -> str:
        """One human-readable paragraph."""
        head = f'{desc}: ' if desc else ''
        lines = [
            f'{head}{self.total} images: {self.done} done now, '
            f'{self.skipped_done} already finished, {self.num_failed} '
            f'failed; {self.seconds:.1f} s, '
            f'{self.seconds_per_image:.3f} s/image'
        ]
        for reason, ids in sorted(self.failed.items()):
            shown = ', '.join(ids[:5]) + (' ...' if len(ids) > 5 else '')
            lines.append(f'  failed ({reason}): {len(ids)} [{shown}]')
        return '\n'.join(lines)


def _default_log(msg: str) -> None:
    print_log(msg, logger='current')


def _resolve_rank(rank: Optional[int],
                  world_size: Optional[int]) -> Tuple[int, int]:
    if (rank is None) != (world_size is None):
        raise ValueError('give both rank and world_size or neither (then '
                         f'they come from mmengine.dist), got rank={rank}, '
                         f'world_size={world_size}')
    if rank is None:
        rank, world_size = dist.get_dist_info()
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f'need 0 <= rank < world_size, got rank={rank}, '
                         f'world_size={world_size}')
    return rank, world_size


def shard_ids(ids: Sequence[str], rank: int, world_size: int) -> List[str]:
    """Ids of one shard: ``ids[i]`` belongs to rank ``i % world_size``."""
    return list(ids[rank::world_size])


def run_image_job(ids: Sequence[str],
                  process_fn: Callable[[str], None],
                  is_done: Callable[[str], bool],
                  *,
                  rank: Optional[int] = None,
                  world_size: Optional[int] = None,
                  desc: str = '',
                  log: Optional[Callable[[str], None]] = None,
                  progress: bool = True,
                  catch_errors: bool = True) -> JobSummary:
    """Run ``process_fn`` on every unfinished image of this process's shard.

    Args:
        ids (sequence[str]): All image ids (unique), same order on every
            rank.
        process_fn (callable): ``process_fn(img_id)`` computes and writes
            the image's output (atomically); raises :class:`SkipImage` to
            skip it with a reason.
        is_done (callable): ``is_done(img_id)`` is True when the output is
            complete (e.g. ``lambda i: is_complete(mask_path(d, i))``).
        rank (int, optional): This process's rank. Defaults to None (from
            ``mmengine.dist``; 0 without a process group).
        world_size (int, optional): Number of processes. Defaults to None
            (from ``mmengine.dist``).
        desc (str): Job name for the log. Defaults to ''.
        log (callable, optional): Receives log lines (per-image failures and
            the summary). Defaults to None (``mmengine`` ``print_log``).
        progress (bool): Show an ``mmengine`` progress bar on rank 0.
            Defaults to True.
        catch_errors (bool): Count any ``Exception`` of ``process_fn`` as a
            failure (True) or only :class:`SkipImage` (False). Defaults to
            True.

    Returns:
        JobSummary: Counts of all ranks when a process group is initialised
        (gathered with ``mmengine.dist.all_gather_object``, so every rank
        gets them), of this process otherwise.
    """
    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f'run_image_job{f" ({desc})" if desc else ""}: ids '
                         f'must be unique (each image written once), '
                         f'duplicates: {dup}')
    rank, world_size = _resolve_rank(rank, world_size)
    log = _default_log if log is None else log
    mine = shard_ids(ids, rank, world_size)
    summary = JobSummary(total=len(ids))
    start = time.perf_counter()
    bar = ProgressBar(len(mine), file=sys.stdout) \
        if progress and rank == 0 and mine else None
    for img_id in mine:
        if is_done(img_id):
            summary.skipped_done += 1
        else:
            t0 = time.perf_counter()
            try:
                process_fn(img_id)
            except SkipImage as err:
                summary.failed.setdefault(err.reason, []).append(img_id)
                log(f'{desc or "job"}: skipped {img_id}: {err}')
            except Exception as err:  # noqa: BLE001 (policy in the docstring)
                if not catch_errors:
                    raise
                reason = type(err).__name__
                summary.failed.setdefault(reason, []).append(img_id)
                log(f'{desc or "job"}: failed {img_id}: {reason}: {err}')
            else:
                summary.done += 1
                summary.busy_seconds += time.perf_counter() - t0
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    summary.seconds = time.perf_counter() - start

    if (world_size > 1 and dist.is_distributed()
            and dist.get_world_size() == world_size):
        summary = _gather(summary)
    if rank == 0:
        log(summary.format(desc))
    return summary


def _gather(summary: JobSummary) -> JobSummary:
    """Merge the summaries of all ranks (every rank gets the result)."""
    parts = dist.all_gather_object(summary)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    return merged
