# Synthetic world, partial preset: partial-crop queries (Partial-REID-like) vs holistic gallery.
_base_ = ['./synthetic_reid.py']
train_dataloader = dict(dataset=dict(preset='partial'))
val_dataloader = dict(dataset=dict(query=dict(preset='partial'), gallery=dict(preset='partial')))
test_dataloader = val_dataloader
