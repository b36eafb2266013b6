# The embedded synthetic world (asym_plugins/data/synthetic), holistic preset, 128x64 images
# rendered on the fly, 100 training identities; pad 8 instead of 10, P x K = 8 x 4.
# Other presets inherit this file and override the datasets' `preset` by dict merge, e.g.
#   train_dataloader = dict(dataset=dict(preset='occluded'))
#   val_dataloader = dict(dataset=dict(query=dict(preset='occluded'), gallery=dict(preset='occluded')))
# (changing the variable `preset` below in a child config would NOT reach the dicts).
_base_ = ['./reid_256x128.py']
preset = 'holistic'
world_seed = 0
img_h, img_w = 128, 64
batch_size = 32
num_workers = 2
train_pipeline = [dict(t, scale=(img_w, img_h)) if t.type == 'Resize' else
                  dict(t, padding=8) if t.type == 'PadRandomCrop' else t
                  for t in _base_.train_pipeline]
test_pipeline = [dict(t, scale=(img_w, img_h)) if t.type == 'Resize' else t
                 for t in _base_.test_pipeline]
world = dict(type='SyntheticReIDDataset', preset=preset, seed=world_seed, img_size=(img_h, img_w))
train_dataloader = dict(batch_size=batch_size, num_workers=num_workers,
                        sampler=dict(batch_size=batch_size),
                        dataset=dict(world, pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, num_workers=num_workers,
                      dataset=dict(query=dict(world, pipeline=test_pipeline),
                                   gallery=dict(world, pipeline=test_pipeline)))
test_dataloader = val_dataloader
