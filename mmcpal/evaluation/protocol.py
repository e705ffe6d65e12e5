"""The evaluation protocol that every printed or saved score carries."""
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from .confusion import PRED_IGNORE_MODES

# What each ``cam_type`` means, printed with the protocol.
CAM_TYPE_TEXT = {
    'cam': 'the classifier CAM',
    'pacam': "CPAL's prototype-aware CAM (PACAM)",
    'fused': 'mean of the max-normalised CAM and PACAM, re-max-normalised',
}

_PRED_IGNORE_TEXT = {
    'wrong': 'counted wrong (a miss of the ground-truth class)',
    'exclude': 'excluded from scoring (see coverage)',
}


@dataclass
class Protocol:
    """How a score was obtained; printed above every table, saved in JSON.

    Note:
        Two scores are comparable only if their protocols agree on every
        field except ``source`` (and, for sweeps, the chosen threshold).

    Args:
        split (str): Id list or split name the images came from.
        source (str): What was scored (a CAM folder and array name, or a
            mask folder).
        num_classes (int): C, foreground classes (masks hold 0..C).
        threshold_rule (str): How background was decided, e.g. a constant
            background-score sweep, ``(1 - max cams) ** alpha``, or ``'none
            (masks)'``.
        crf (bool): Whether the scored maps went through a dense CRF.
            Defaults to False.
        pred_ignore (str): How predictions of 255 are treated: ``'wrong'``
            or ``'exclude'``. Defaults to ``'wrong'``.
        gt_ignore (str): How 255 in the ground truth is treated. Defaults to
            ``'ignored (not scored)'``.
        miou_classes (str): Which classes the mIoU averages. Defaults to the
            classes present in GT or prediction over the set.
        num_images (int): Images evaluated. Defaults to 0.
        skipped (dict[str, list[str]]): Reason -> ids of skipped images.
            Defaults to empty.
        missing_as_background (list[str]): Ids whose prediction was
            missing and that were scored as all background (evaluated, not
            skipped). Defaults to empty.
        coverage (float, optional): Percent of non-ignored GT pixels that
            were scored (below 100 only with ``pred_ignore='exclude'`` and
            unsure predictions). Defaults to None.
        num_scored_classes (int, optional): Classes that entered the mIoU.
            Defaults to None.
        units (str): Units of the reported scores. Defaults to
            ``'percent'``.
        cam_type (str, optional): The map that was scored (seeds) or that
            the masks were made from: ``'cam'``, ``'pacam'`` or ``'fused'``.
            None when unknown (e.g. masks from elsewhere). Defaults to None.
    """

    split: str
    source: str
    num_classes: int
    threshold_rule: str
    crf: bool = False
    pred_ignore: str = 'wrong'
    gt_ignore: str = 'ignored (not scored)'
    miou_classes: str = ('mean over the classes present in GT or '
                         'prediction of the evaluated set (NaN-mean, as '
                         'IRN/AMN)')
    num_images: int = 0
    skipped: Dict[str, List[str]] = field(default_factory=dict)
    missing_as_background: List[str] = field(default_factory=list)
    coverage: Optional[float] = None
    num_scored_classes: Optional[int] = None
    units: str = 'percent'
    cam_type: Optional[str] = None

    def __post_init__(self) -> None:
        if self.cam_type is not None and self.cam_type not in CAM_TYPE_TEXT:
            raise ValueError(f'Protocol.cam_type must be one of '
                             f'{tuple(CAM_TYPE_TEXT)} or None, got '
                             f'{self.cam_type!r}')
        if self.pred_ignore not in PRED_IGNORE_MODES:
            raise ValueError(f'Protocol.pred_ignore must be one of '
                             f'{PRED_IGNORE_MODES}, got {self.pred_ignore!r}')
        if self.num_classes < 1:
            raise ValueError('Protocol.num_classes must be >= 1, got '
                             f'{self.num_classes}')

    def add_skip(self, reason: str, img_id: str) -> None:
        """Record one skipped image under ``reason``."""
        self.skipped.setdefault(reason, []).append(img_id)

    @property
    def num_skipped(self) -> int:
        """Total number of skipped images."""
        return sum(len(ids) for ids in self.skipped.values())

    def to_dict(self) -> Dict:
        """JSON-ready dict of every field (plus ``num_skipped``)."""
        out = asdict(self)
        out['num_skipped'] = self.num_skipped
        return out

    def to_markdown(self, max_ids: int = 5) -> str:
        """The protocol as a markdown bullet list.

        Args:
            max_ids (int): Skipped ids shown per reason. Defaults to 5.

        Returns:
            str: Lines ``- key: value``.
        """
        lines = [
            f'- images: {self.num_images} evaluated, {self.num_skipped} '
            f'skipped (list: {self.split})',
        ]
        for reason, ids in self.skipped.items():
            shown = ', '.join(ids[:max_ids])
            more = f', ... (+{len(ids) - max_ids})' if len(
                ids) > max_ids else ''
            lines.append(f'  - skipped, {reason}: {len(ids)} ({shown}{more})')
        if self.missing_as_background:
            ids = self.missing_as_background
            lines.append(f'  - of the evaluated, {len(ids)} had no '
                         'prediction and were scored as all background (' +
                         ', '.join(ids[:max_ids]) +
                         (', ...' if len(ids) > max_ids else '') + ')')
        if self.cam_type is not None:
            lines.append(f'- map: {self.cam_type} '
                         f'({CAM_TYPE_TEXT[self.cam_type]})')
        lines += [
            f'- source: {self.source}',
            f'- background rule: {self.threshold_rule}',
            f'- GT 255: {self.gt_ignore}',
            f'- prediction 255: {_PRED_IGNORE_TEXT[self.pred_ignore]}',
        ]
        if self.coverage is not None:
            lines.append(f'- coverage: {self.coverage:.2f} % of '
                         'non-ignored GT pixels scored')
        lines.append(f'- CRF: {"yes" if self.crf else "no"}')
        scored = ('' if self.num_scored_classes is None else
                  f'; {self.num_scored_classes} of {self.num_classes + 1} '
                  'classes (incl. background) scored')
        lines.append(f'- mIoU: {self.miou_classes}{scored}')
        lines.append(f'- units: {self.units}')
        return '\n'.join(lines)
