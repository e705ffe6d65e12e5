# Test-time config: multi-scale (0.5-1.5) + flip testing, then one dense CRF
# on the averaged probabilities (mmcpal.CRFSegTTAModel):
#   python tools/test.py THIS_CONFIG work_dirs/.../iter_20000.pth
_base_ = ['./deeplabv2_r101-d8_1xb10-20k_voc12aug-pseudo-321x321.py']
model = dict(
    _delete_=True,
    type='mmcpal.CRFSegTTAModel',
    module={{_base_.model}},
    crf={{_base_.deeplab_crf}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
