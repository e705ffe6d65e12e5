# Test-time config for the demo model: multi-scale + flip testing, then one
# dense CRF on the averaged probabilities (mmcpal.CRFSegTTAModel):
#   python tools/test.py THIS_CONFIG work_dirs/.../iter_1000.pth
# Without the CRF: --cfg-options model.crf=None
_base_ = ['./deeplabv2_squeezenet_1xb8-1k_demo-pseudo-160x160.py']
model = dict(
    _delete_=True,
    type='mmcpal.CRFSegTTAModel',
    module={{_base_.model}},
    crf={{_base_.deeplab_crf}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
