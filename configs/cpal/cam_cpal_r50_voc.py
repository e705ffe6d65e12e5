# Optimiser: the paper's text (SGD momentum 0.9, no clipping); the recipe as
# IRN's / SIPE's code ran it: configs/cpal/cam_cpal_r50_voc_as-run.py.
# CAM network + CPAL on VOC 2012 train_aug (paper §4: batch 16, 5 epochs,
# bank 1000, k=50, K=20, tau=0.1), the second reading of the method page (the
# CPALBranch defaults: SIPE's side embedding of ResNet layers 1-4, background
# prototype, standardised positiveness, prototype shift). First reading:
# reading1/cam_cpal_r50_voc.py.
_base_ = ['../cam/cam_r50_voc.py']
model = dict(
    backbone=dict(out_indices=(0, 1, 2, 3)),  # SIPE's side head: layers 1-4
    cpal=dict(
        _delete_=True,
        type='CPALBranch',
        head=dict(type='SideProjectionHead',
                  in_channels=(256, 512, 1024, 2048)),
        bank=dict(type='SupportBank', capacity=1000),
        clustering=dict(type='SphericalKMeans', num_clusters=50),
        neighbours=dict(type='TopKNeighbours', num_neighbours=20),
        tau=0.1))
custom_hooks = [dict(type='ContextClusteringHook')]
