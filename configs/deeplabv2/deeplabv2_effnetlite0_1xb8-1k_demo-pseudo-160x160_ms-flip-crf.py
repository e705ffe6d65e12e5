# Test-time config of the EfficientNet-Lite0 demo model: multi-scale + flip,
# then one dense CRF (as deeplabv2_squeezenet_..._ms-flip-crf.py).
_base_ = ['./deeplabv2_effnetlite0_1xb8-1k_demo-pseudo-160x160.py']
model = dict(
    _delete_=True,
    type='mmcpal.CRFSegTTAModel',
    module={{_base_.model}},
    crf={{_base_.deeplab_crf}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
