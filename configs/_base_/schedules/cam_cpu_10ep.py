# A short CPU schedule for SqueezeNet on small data sets: the paper's
# optimiser shape (SGD, momentum 0.9, wd 1e-4, 10x lr on new layers, poly),
# 10 epochs. SqueezeNet's caffe-style features are large (fire9 std ~10, max
# ~500), so ResNet's lr 0.1 / 1.0 diverges: measured on the demo data,
# lr 0.01 -> val mAP 34 (no learning), 0.001 -> 88, 0.0003 -> 84.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={
        'classifier': dict(lr_mult=10.0),
        'cpal': dict(lr_mult=10.0),
    }))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
