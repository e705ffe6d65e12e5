# AMN's optimiser (gaviotas/AMN step/train_amn.py, run_sample.py): Adam,
# weight decay 1e-4 (torch Adam, L2), lr 5e-6 for the backbone and 1e-4
# (20x) for the new layers (classifier, label_enc; the CPAL projection head
# counts as new too [choice]); constant learning rate (no scheduler); 5
# epochs (--amn_num_epoches) at batch 16 (--amn_batch_size).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=5e-6, weight_decay=1e-4),
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
auto_scale_lr = dict(enable=False, base_batch_size=16)
