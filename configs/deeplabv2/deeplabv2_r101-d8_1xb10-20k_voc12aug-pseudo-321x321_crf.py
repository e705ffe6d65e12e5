# Test-time config: single-scale testing + dense CRF (DeepLab-v2's
# post-processing, mmcpal.CRFEncoderDecoder), scored by IoUMetric on the
# refined masks:
#   python tools/test.py THIS_CONFIG work_dirs/.../iter_20000.pth
# CRF: mmcpal.pseudo.crf.dense_crf with `deeplab_crf` of the base config
# (DeepLab-v2's VOC parameters).
_base_ = ['./deeplabv2_r101-d8_1xb10-20k_voc12aug-pseudo-321x321.py']
model = dict(type='mmcpal.CRFEncoderDecoder', crf={{_base_.deeplab_crf}})
