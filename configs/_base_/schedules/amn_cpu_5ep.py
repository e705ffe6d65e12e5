# A short CPU schedule for AMN on SqueezeNet: AMN's optimiser shape (Adam,
# weight decay 1e-4, new layers at 20x the backbone lr, constant lr), 5
# epochs. AMN's base lr 5e-6 is too small for 125 iterations: measured on the
# demo data (batch 8, 160 px crops, 5 epochs, one seed; IR labels = the
# ground truth with a 7 px unsure band around every boundary, a stand-in for
# CAM IR labels; val mIoU of the label-conditioned argmax):
# 5e-6 -> 22.1, 5e-5 -> 31.1, 1e-4 -> 30.0, 2e-4 -> 32.3, 1e-3 -> 13.4
# (unstable loss). 1e-4 sits on the plateau, 10x below the unstable rate.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(
        custom_keys={
            'classifier': dict(lr_mult=20.0),
            'label_enc': dict(lr_mult=20.0),
            'cpal': dict(lr_mult=20.0),
        }))
param_scheduler = []
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=5, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
