"""The summary a preparer returns, and the error it raises."""
import warnings
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

#: How many problems an error message or a summary lists.
MAX_LISTED = 10


class PrepareError(ValueError):
    """Inputs are broken (bad masks, sizes, values) or incomplete."""


@dataclass
class PrepareReport:
    """Counts, warnings and problems of one preparation run.

    Args:
        name (str): What was prepared, e.g. ``'VOC 2012 + SBD'``.
        out_dir (str): The output root.
        counts (dict): Named counts (images written, skipped, ...).
        warnings (list[str]): Partial inputs and other non-fatal findings.
        problems (list[str]): Broken inputs (each names the file).
        seconds (float): Wall time.
        timings (dict): Named times in seconds (e.g. per image).
    """

    name: str
    out_dir: str
    counts: Dict[str, int] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: Dict[str, float] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        """Record a warning and emit it with :func:`warnings.warn`."""
        self.warnings.append(message)
        warnings.warn(message, stacklevel=2)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict."""
        return asdict(self)

    def format(self) -> str:
        """A readable multi-line summary."""
        lines = [f'{self.name} -> {self.out_dir} ({self.seconds:.1f} s)']
        width = max((len(k) for k in self.counts), default=0)
        for key, value in self.counts.items():
            lines.append(f'  {key:<{width}}  {value}')
        for key, value in self.timings.items():
            lines.append(f'  {key}: {value * 1000:.1f} ms')
        for title, items in (('warnings', self.warnings), ('problems',
                                                           self.problems)):
            if items:
                lines.append(f'  {len(items)} {title}:')
                lines += [f'    - {m}' for m in items[:MAX_LISTED]]
                if len(items) > MAX_LISTED:
                    lines.append(f'    ... and {len(items) - MAX_LISTED} '
                                 'more')
        return '\n'.join(lines)

    def raise_if_problems(self, hint: Optional[str] = None) -> None:
        """Raise :class:`PrepareError` listing the problems, if any.

        Args:
            hint (str, optional): A last sentence, e.g. how to proceed.
                Defaults to None.
        """
        if not self.problems:
            return
        shown = '\n  - '.join(self.problems[:MAX_LISTED])
        more = (f'\n  ... and {len(self.problems) - MAX_LISTED} more'
                if len(self.problems) > MAX_LISTED else '')
        tail = f'\n{hint}' if hint else ''
        raise PrepareError(f'{self.name}: {len(self.problems)} problem(s) '
                           f'with the inputs:\n  - {shown}{more}{tail}')
