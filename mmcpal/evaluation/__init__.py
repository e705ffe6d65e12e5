"""Seed and mask evaluation: confusion matrices, a threshold sweep and the
protocol printed with every score; diagnostics of the CPAL branch."""
from .confusion import (IGNORE_INDEX, PRED_IGNORE_MODES, confusion_matrix,
                        segmentation_scores)
from .cpal_diagnostics import (HistogramAUC, background_share, diagnose,
                               effective_neighbours, format_markdown,
                               gradient_stats, nmi, purity, rank_auc)
from .label_io import (VOC_CLASSES, default_class_names, read_id_list,
                       read_label_png)
from .masks import evaluate_masks
from .protocol import Protocol
from .result import EvalResult
from .seeds import (DEFAULT_THRESHOLDS, background_score, cams_to_seed,
                    evaluate_cam_dir, seed_confusions, sweep_from_confusions)

__all__ = [
    'IGNORE_INDEX', 'PRED_IGNORE_MODES', 'confusion_matrix',
    'segmentation_scores', 'VOC_CLASSES', 'default_class_names',
    'read_id_list', 'read_label_png', 'evaluate_masks', 'Protocol',
    'EvalResult', 'DEFAULT_THRESHOLDS', 'background_score', 'cams_to_seed',
    'evaluate_cam_dir', 'seed_confusions', 'sweep_from_confusions',
    'HistogramAUC', 'background_share', 'diagnose', 'effective_neighbours',
    'format_markdown', 'gradient_stats', 'nmi', 'purity', 'rank_auc'
]
