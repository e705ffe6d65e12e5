"""Positiveness: soft weights of an instance prototype's neighbours (Eq. 7).

Method page §6. Each type maps ``(protos (N, E), neighbours (N, K, E))`` to
weights ``(N, K)`` summing to 1 per row.
"""
import torch.nn as nn
from torch import Tensor

from mmcpal.registry import MODELS
from .functional import (POSITIVENESS_METRICS, positiveness,
                         standardised_positiveness)
from .validation import check_bool, check_choice, check_number

_METRICS = tuple(m for m in POSITIVENESS_METRICS if m != 'uniform')


class _Positiveness(nn.Module):
    """Shared ``detach`` handling."""

    def __init__(self, detach: bool) -> None:
        super().__init__()
        check_bool(type(self).__name__, 'detach', detach)
        self.detach = detach

    def _out(self, w: Tensor) -> Tensor:
        return w.detach() if self.detach else w


@MODELS.register_module()
class SoftmaxPositiveness(_Positiveness):
    """``w = softmax_k(sim(p, c_k) / temperature)`` (the first reading).

    Args:
        metric (str): 'dot' [paper, best in Table 3], 'cosine', 'l1' or
            'l2' (negative distances). Defaults to 'dot'.
        temperature (float): ``t`` (> 0). Defaults to 1.0 [choice].
        detach (bool): Constant weights. Defaults to True [choice].
    """

    def __init__(self,
                 *,
                 metric: str = 'dot',
                 temperature: float = 1.0,
                 detach: bool = True) -> None:
        super().__init__(detach)
        check_choice('SoftmaxPositiveness', 'metric', metric, _METRICS)
        check_number('SoftmaxPositiveness', 'temperature', temperature, '> 0',
                     lambda v: v > 0)
        self.metric = metric
        self.temperature = float(temperature)

    def forward(self, protos: Tensor, neighbours: Tensor) -> Tensor:
        return self._out(positiveness(protos, neighbours, metric=self.metric,
                                      scale=self.temperature))

    def extra_repr(self) -> str:
        return f'metric={self.metric!r}, temperature={self.temperature}'


@MODELS.register_module()
class StandardisedPositiveness(_Positiveness):
    """Softmax of the scores standardised over each row's neighbours.

    ``w = softmax_k((s_k - mean s) / (temperature * std s))`` (method page
    §6.1, :func:`~mmcpal.models.cpal.functional.standardised_positiveness`):
    the temperature is relative to the scores' spread, so the weights stay
    soft whatever the embedding's scale.

    Args:
        metric (str): As :class:`SoftmaxPositiveness`. Defaults to 'dot'.
        temperature (float): Multiplier of the spread (> 0). Defaults to 1.0
            [choice].
        detach (bool): Constant weights. Defaults to True [choice].
    """

    def __init__(self,
                 *,
                 metric: str = 'dot',
                 temperature: float = 1.0,
                 detach: bool = True) -> None:
        super().__init__(detach)
        check_choice('StandardisedPositiveness', 'metric', metric, _METRICS)
        check_number('StandardisedPositiveness', 'temperature', temperature,
                     '> 0', lambda v: v > 0)
        self.metric = metric
        self.temperature = float(temperature)

    def forward(self, protos: Tensor, neighbours: Tensor) -> Tensor:
        return self._out(
            standardised_positiveness(protos, neighbours, metric=self.metric,
                                      temperature=self.temperature))

    def extra_repr(self) -> str:
        return f'metric={self.metric!r}, temperature={self.temperature}'


@MODELS.register_module()
class UniformPositiveness(_Positiveness):
    """Equal weights over the neighbours (Table 2's rows without
    positiveness).

    Args:
        detach (bool): Constant weights. Defaults to True.
    """

    def __init__(self, *, detach: bool = True) -> None:
        super().__init__(detach)

    def forward(self, protos: Tensor, neighbours: Tensor) -> Tensor:
        return self._out(positiveness(protos, neighbours, metric='uniform'))
