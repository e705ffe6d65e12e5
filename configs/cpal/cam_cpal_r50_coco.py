# CAM network + CPAL on MS COCO 2014 train (80 classes), the settings of
# configs/cpal/cam_cpal_r50_voc.py.
_base_ = ['../cam/cam_r50_coco.py']
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
