# sysu_mm01.py at 288x144 (AGW's input size).
_base_ = ['./sysu_mm01.py']
img_h, img_w = 288, 144
train_pipeline = [dict(t, scale=(img_w, img_h)) if t.type == 'Resize' else t
                  for t in _base_.train_pipeline]
test_pipeline = [dict(t, scale=(img_w, img_h)) if t.type == 'Resize' else t
                 for t in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(query=dict(pipeline=test_pipeline),
                                   gallery=dict(pipeline=test_pipeline)))
test_dataloader = val_dataloader
