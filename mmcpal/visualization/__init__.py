"""Pictures for people: CAM overlays, seeds, masks and GT in PNG grids."""
from .cam_grid import make_cam_grid, make_cam_row, vis_cam_dir
from .drawing import (LABEL_HEIGHT, colorize_labels, label_tile, overlay_cam,
                      voc_palette)

__all__ = [
    'make_cam_grid', 'make_cam_row', 'vis_cam_dir', 'LABEL_HEIGHT',
    'colorize_labels', 'label_tile', 'overlay_cam', 'voc_palette'
]
