"""A side-by-side table of pseudo-mask runs, each with its protocol."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence


def _load(path: str) -> Optional[Dict]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _cell(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.1f}'


def compare_runs(run_dirs: Sequence[str],
                 names: Optional[Sequence[str]] = None) -> str:
    """Markdown table of seed and mask mIoU of pseudo-mask output folders.

    Each folder is one ``tools/gen_pseudo_masks.py --out-dir``; its
    ``seed_eval.json`` and ``mask_eval.json`` are read. The protocols are
    printed under the table.

    Args:
        run_dirs (sequence[str]): Output folders.
        names (sequence[str], optional): Row names (default: folder names).

    Returns:
        str: The markdown report.
    """
    names = list(names) if names else [osp.basename(d) for d in run_dirs]
    if len(names) != len(run_dirs):
        raise ValueError('names and run_dirs differ in length')
    lines = [
        '| run | seed mIoU | best seed threshold | mask mIoU | '
        'mask fg % (GT fg %) |', '|---|---|---|---|---|'
    ]
    protocols: List[str] = []
    for name, run in zip(names, run_dirs):
        seeds = _load(osp.join(run, 'seed_eval.json'))
        masks = _load(osp.join(run, 'mask_eval.json'))
        seed_miou = seeds['best']['miou'] if seeds else None
        seed_thr = seeds['best'].get('threshold') if seeds else None
        mask_miou = masks['best']['miou'] if masks else None
        fg = '-'
        if masks and masks['best'].get('pred_fg') is not None:
            fg = (f"{masks['best']['pred_fg']:.1f} "
                  f"({masks['best'].get('gt_fg', float('nan')):.1f})")
        thr = '-' if seed_thr is None else f'{seed_thr:g}'
        lines.append(f'| {name} | {_cell(seed_miou)} | {thr} | '
                     f'{_cell(mask_miou)} | {fg} |')
        for kind, result in (('seeds', seeds), ('masks', masks)):
            if result:
                proto = result['protocol']
                protocols.append(
                    f"- {name} {kind}: split `{proto['split']}`, "
                    f"{proto['num_images']} images, background rule: "
                    f"{proto['threshold_rule']}, CRF: "
                    f"{'yes' if proto['crf'] else 'no'}, GT 255: "
                    f"{proto['gt_ignore']}, predicted 255: "
                    f"{proto['pred_ignore']}, source: {proto['source']}")
    note = ('Seed mIoU is the best point of a background-threshold sweep '
            'on the ground truth of the evaluated images (as papers report '
            'seeds); masks use the fixed threshold given to the tool.')
    return '\n'.join(lines + ['', note, '', 'Protocols:'] + protocols)
