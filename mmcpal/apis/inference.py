"""Build a trained model from a config and a checkpoint."""
from typing import Optional, Union

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmcpal.apis.config import load_config
from mmcpal.registry import MODELS


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               *,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the model of ``config`` and load ``checkpoint`` into it.

    Without a checkpoint the model keeps the initialisation of its config
    (``init_weights`` is called, so e.g. ImageNet backbones are loaded).

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint to load (``state_dict`` inside).
        device (str): Where to put the model. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides of the config.

    Returns:
        nn.Module: The model in eval mode.
    """
    if isinstance(config, str):
        config = load_config(config, cfg_options)
    elif cfg_options:
        config.merge_from_dict(cfg_options)
    init_default_scope(config.get('default_scope', 'mmcpal'))
    model = MODELS.build(config.model)
    if checkpoint is None:
        model.init_weights()
    else:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.cfg = config
    return model.to(device).eval()
