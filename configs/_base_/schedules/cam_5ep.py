# The paper's VOC recipe for the CAM network [method page §10]: SGD, momentum
# 0.9, weight decay 1e-4, lr 0.1 for the backbone and 10x for new layers
# (classifier, CPAL projection head), poly decay (power 0.9), 5 epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
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
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=5, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# lr above is for a total batch of 16 (8 GPUs x 2); --auto-scale-lr users.
auto_scale_lr = dict(enable=False, base_batch_size=16)
