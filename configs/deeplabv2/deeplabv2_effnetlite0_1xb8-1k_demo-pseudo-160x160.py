# DeepLab-v2 head on EfficientNet-Lite0 on pseudo masks of the demo set (CPU):
# the SqueezeNet config with the backbone of configs/_base_/models/
# effnetlite0.py. The head features are ReLU6-bounded (std ~1 on a real
# photo, as ResNet's), so the head keeps DeepLab's N(0, 0.01). The lr 1e-4
# was chosen for SqueezeNet and not re-tuned.
_base_ = [
    './deeplabv2_squeezenet_1xb8-1k_demo-pseudo-160x160.py',
    '../_base_/models/effnetlite0.py'
]
data_preprocessor = {{_base_.effnet_norm}}
model = dict(
    data_preprocessor={{_base_.effnet_norm}},
    backbone={{_base_.effnet_backbone}},
    decode_head=dict(in_channels={{_base_.effnet_channels}}, init_std=0.01))
