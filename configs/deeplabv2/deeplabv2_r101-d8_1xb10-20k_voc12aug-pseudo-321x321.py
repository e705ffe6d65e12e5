# DeepLab-v2 ResNet-101 trained on WSSS pseudo masks of VOC 2012 train_aug
# (10,582 images), evaluated on the ground truth of VOC 2012 val (1,449).
#
# Recipe of DeepLab-v2 (TPAMI 2018) as run by kazuto1011/deeplab-pytorch
# (configs/voc12.yaml, main.py) - the code the WSSS papers (IRN, AMN, CPAL)
# train their final segmentation model with:
#   batch 10 (5 x 2 accumulated there), random scale 0.5-1.5, random crop
#   321x321 padded with the mean / ignore, horizontal flip; SGD lr 2.5e-4,
#   momentum 0.9, weight decay 5e-4, poly power 0.9, 20k iterations;
#   classifier weights 10x lr, classifier biases 20x lr without decay;
#   batch norm frozen; test on the whole image at its own size.
# See docs/deeplabv2.md for what is (not) reproduced: MSC training and the
# COCO-pretrained initialisation are not.
#
# Pseudo masks: palette PNGs <id>.png (0..20, 255 = ignore) in one folder,
# e.g. from tools/gen_pseudo_masks.py. Switch the folder with ONE option:
#   python tools/train.py THIS_CONFIG --cfg-options \
#       train_dataloader.dataset.data_prefix.seg_map_path=/abs/path/masks
# (a relative path is joined to data_root). Overriding a top-level variable
# would not work: MMEngine substitutes plain config variables when the file
# is parsed, so a later --cfg-options / child-config value never reaches the
# dicts that used it.
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    'mmseg::_base_/datasets/pascal_voc12.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
]
crop_size = (321, 321)

# ----------------------------------------------------------------- data
# data_root (VOCdevkit/VOC2012), dataset type and the val split come from
# mmseg's pascal_voc12.py. trainaug.txt is written by mmseg's
# tools/dataset_converters/voc_aug.py (VOC train + SBD minus VOC val).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # keep_ratio resize into (500 r) x (500 r): VOC images have a 500 px long
    # side, so this is DeepLab-v2's random scale factor r in [0.5, 1.5].
    dict(
        type='RandomResize',
        scale=(500, 500),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    # Smaller images stay whole; the data preprocessor pads to 321x321.
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
# DeepLab-v2 tests on the image at its own size (no resize).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=10,  # on N GPUs use 10 // N per GPU
    num_workers=4,
    dataset=dict(
        ann_file='ImageSets/Segmentation/trainaug.txt',
        data_prefix=dict(
            img_path='JPEGImages',
            # The pseudo masks (see the command above).
            seg_map_path='SegmentationClassPseudo'),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# Multi-scale + flip testing: tools/test.py with the *_ms-flip*.py config
# (MMSeg's SegTTAModel averages the softmax over the views).
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale_factor=r, keep_ratio=True)
                for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]

# Dense CRF of the *_crf.py test configs: keyword arguments of
# mmcpal.pseudo.crf.dense_crf set to DeepLab-v2's VOC values, as
# deeplab-pytorch libs/utils/crf.py / configs/voc12.yaml: 10 iterations,
# addPairwiseGaussian(sxy=1, compat=3),
# addPairwiseBilateral(sxy=67, srgb=3, compat=4).
deeplab_crf = dict(
    iters=10,
    gauss_sxy=1,
    gauss_compat=3,
    bilateral_sxy=67,
    bilateral_srgb=3,
    bilateral_compat=4)

# ------------------------------------------------------------ optimiser
# 10x lr on the classifier weights, 20x lr and no weight decay on its
# biases (deeplab-pytorch main.py get_params; the Caffe lr_mult/decay_mult).
# The backbone has no trainable biases (bias-free convs, frozen BN).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(
        custom_keys={
            'decode_head': dict(lr_mult=10.),
            **{
                f'decode_head.aspp.{i}.bias': dict(
                    lr_mult=20., decay_mult=0.)
                for i in range(4)
            },
        }))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=20000,
        by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=2000)
