# BoT's recipe on the small CPU network of the synthetic twins: SmallReIDNet (256 channels,
# stride 16), GAP, BNNeck, ID (label smoothing) + batch-hard triplet 0.3; the synthetic presets'
# 100 training identities.
model = dict(
    type='ReIDBaseline',
    backbone=dict(type='SmallReIDNet', out_channels=256, stride=16),
    neck=dict(type='GlobalPooling', pooling='avg'),
    head=dict(type='BNNeckHead', num_classes=100),
    losses=dict(id=dict(type='CrossEntropyLabelSmooth', epsilon=0.1),
                triplet=dict(type='TripletLoss', margin=0.3)),
    test_feature='after_bn',
)
