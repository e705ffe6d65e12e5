# DeepLab-v2 (Chen et al., TPAMI 2018, arXiv:1606.00915): ResNet-101 at output
# stride 8 + ASPP-L (four 3x3 convolutions of dilation 6/12/18/24 straight to
# the logits, summed). Layer-for-layer as the reference PyTorch port
# kazuto1011/deeplab-pytorch (libs/models/deeplabv2.py, resnet.py):
# * caffe-style bottlenecks (stride in the first 1x1 conv) -> style='caffe';
# * 7x7 stem (no deep stem) -> mmseg `ResNet`, not `ResNetV1c`;
# * res4 dilation 2 and res5 dilation 4 in *every* block, strides (1, 2, 1, 1)
#   -> dilations=(1, 1, 2, 4), contract_dilation=False;
# * batch norm frozen (statistics and affine) as `freeze_bn()` / Caffe
#   lr_mult 0 -> requires_grad=False, norm_eval=True.
# Pretrained weights: the MSRA ImageNet ResNet-101 (the Caffe model DeepLab-v2
# starts from before its COCO pre-training), as converted by Detectron2 and
# served by OpenMMLab; it expects Caffe-style BGR input minus the ImageNet mean
# and no std (the mmdet settings for this checkpoint). The papers' COCO-
# pretrained init (deeplab-pytorch `deeplabv1_resnet101-coco.pth`) has other
# parameter names; see docs/deeplabv2.md.
norm_cfg = dict(type='BN', requires_grad=False)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[103.53, 116.28, 123.675],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_val=0,  # after mean subtraction: pad with the mean colour
    seg_pad_val=255,
    size=(321, 321))  # the training crop; test batches are 1 image
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        style='caffe',
        contract_dilation=False,
        norm_cfg=norm_cfg,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet101_caffe')),
    decode_head=dict(
        type='mmcpal.DeepLabV2Head',
        in_channels=2048,
        dilations=(6, 12, 18, 24),
        num_classes=21,
        align_corners=False,
        # Mean over labelled pixels, as PyTorch's CrossEntropyLoss in
        # deeplab-pytorch (MMSeg's default also counts ignored ones). An
        # all-ignore batch gives 0, not NaN. For class_weight set
        # avg_non_ignore=False (MMSeg 1.4 fails on both; class_weight alone
        # already averages over labelled pixels): docs/deeplabv2.md.
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
