"""An evaluation result: protocol + curve + best point, as markdown / JSON."""
import json
import math
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .protocol import Protocol

# Summary columns of a curve row: (key, header).
_SUMMARY_COLUMNS = (
    ('miou', 'mIoU'),
    ('pixel_acc', 'pixel acc'),
    ('precision', 'precision'),
    ('recall', 'recall'),
    ('fp', 'FP'),
    ('fn', 'FN'),
    ('pred_fg', 'pred fg'),
    ('gt_fg', 'GT fg'),
)
_CLASS_COLUMNS = (('iou', 'IoU'), ('precision', 'precision'),
                  ('recall', 'recall'), ('fp', 'FP'), ('fn', 'FN'))
# Keys of ``segmentation_scores`` copied into a curve row (as percent).
SUMMARY_KEYS = tuple(key for key, _ in _SUMMARY_COLUMNS) + ('bg_in_pred_fg', )


def to_percent(value: float) -> Optional[float]:
    """Fraction -> percent rounded to 4 decimals; NaN -> None (JSON null)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(100.0 * float(value), 4)


def summary_row(scores: Dict, **rule) -> Dict:
    """A curve row: the rule (``threshold``/``alpha``) and summary scores
    in percent."""
    row = dict(threshold=rule.get('threshold'), alpha=rule.get('alpha'))
    for key in SUMMARY_KEYS:
        row[key] = to_percent(scores[key])
    row['num_scored_classes'] = scores['num_scored_classes']
    return row


def per_class_percent(scores: Dict) -> Dict[str, Dict]:
    """Per-class scores in percent (pixel counts kept as integers)."""
    out = {}
    for name, row in scores['per_class'].items():
        out[name] = {
            key: (value if key.endswith('_pixels') else to_percent(value))
            for key, value in row.items()
        }
    return out


def _fmt(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}'


@dataclass
class EvalResult:
    """Scores of one evaluation with the protocol that produced them.

    Args:
        protocol (Protocol): How the scores were obtained.
        best (dict): The best curve row (``threshold``, ``alpha``, ``miou``,
            ...), or the only row for masks. Scores in percent.
        curve (list[dict]): One row per background rule, in sweep order;
            empty for masks.
        per_class (dict): Class name -> scores (percent) at the best point.
        confusion (np.ndarray): (C + 1, C + 2) counts at the best point.
        title (str): Heading of the markdown report. Defaults to
            ``'Evaluation'``.
    """

    protocol: Protocol
    best: Dict
    curve: List[Dict]
    per_class: Dict[str, Dict]
    confusion: np.ndarray = field(repr=False)
    title: str = 'Evaluation'

    def to_json_dict(self) -> Dict:
        """``{"protocol", "best", "curve", "per_class", "confusion"}``."""
        return dict(protocol=self.protocol.to_dict(),
                    best=dict(self.best),
                    curve=[dict(row) for row in self.curve],
                    per_class=self.per_class,
                    confusion=np.asarray(self.confusion).tolist())

    def save_json(self, path: str) -> None:
        """Write :meth:`to_json_dict` to ``path`` (folders are created)."""
        folder = osp.dirname(osp.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(self.to_json_dict(), f, indent=2)
            f.write('\n')

    def _rule_header(self) -> str:
        if self.curve and self.curve[0].get('alpha') is not None:
            return 'alpha'
        return 'threshold'

    def _summary_table(self) -> List[str]:
        rule = self._rule_header()
        rows = self.curve or [self.best]
        headers = ([rule] if self.curve else
                   []) + [header for _, header in _SUMMARY_COLUMNS]
        lines = [
            '| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)
        ]
        for row in rows:
            cells = [_fmt(row[key]) for key, _ in _SUMMARY_COLUMNS]
            if self.curve:
                cells.insert(0, f'{row[rule]:g}')
                if row is self.best or row == self.best:
                    cells = [f'**{cell}**' for cell in cells]
            lines.append('| ' + ' | '.join(cells) + ' |')
        return lines

    def _class_table(self) -> List[str]:
        headers = ['class'] + [header for _, header in _CLASS_COLUMNS]
        lines = [
            '| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)
        ]
        for name, row in self.per_class.items():
            cells = [name] + [_fmt(row[key]) for key, _ in _CLASS_COLUMNS]
            lines.append('| ' + ' | '.join(cells) + ' |')
        return lines

    def best_line(self) -> str:
        """One line: the best rule and its mIoU."""
        miou = _fmt(self.best['miou'])
        if self.best.get('alpha') is not None:
            return f'best: alpha {self.best["alpha"]:g}, mIoU {miou}'
        if self.best.get('threshold') is not None:
            return (f'best: threshold {self.best["threshold"]:g}, '
                    f'mIoU {miou}')
        return f'mIoU {miou}'

    def to_markdown(self, per_class: bool = True) -> str:
        """Protocol, curve (best row in bold), best point, per-class table.

        Args:
            per_class (bool): Append the per-class table. Defaults to True.

        Returns:
            str: Markdown text.
        """
        parts = [
            f'## {self.title}', '', '**Protocol**', '',
            self.protocol.to_markdown(), ''
        ]
        parts += self._summary_table()
        parts += ['', f'**{self.best_line()}** ({self.protocol.units})']
        if per_class:
            parts += [
                '', 'Per class at the best point (- = undefined: class '
                'absent, or never predicted for precision):', ''
            ]
            parts += self._class_table()
        return '\n'.join(parts) + '\n'
