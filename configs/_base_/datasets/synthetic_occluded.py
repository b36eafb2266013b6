# Synthetic world, occluded preset: occluded queries (Occluded-Duke-like) vs holistic gallery.
_base_ = ['./synthetic_reid.py']
train_dataloader = dict(dataset=dict(preset='occluded'))
val_dataloader = dict(dataset=dict(query=dict(preset='occluded'), gallery=dict(preset='occluded')))
test_dataloader = val_dataloader
