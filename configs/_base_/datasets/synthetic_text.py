# The synthetic world's 'text' preset (CUHK-PEDES-like: two captions per image), 128x64 images,
# 16 identities x 2 images per batch (the cross-instance pairs), no random erasing; captions
# tokenized by the packaged MiniLM (`minilm`; any local BERT-family folder works), 48 tokens
# (synthetic captions: 47 at most). TextImageMetric treats every test sample as a gallery image
# and every caption it carries as a query: the test set is the captioned test images (split
# 'query'), not query + gallery.
_base_ = ['./synthetic_reid.py']
num_instances = 2
num_workers = 1
text_encoder_path = 'minilm'
max_length = 48
tokenize = dict(type='TokenizeCaptions', tokenizer=text_encoder_path, max_length=max_length)
train_pipeline = [dict(t, with_part_mask=False) if t.type == 'LoadReIDImage' else t
                  for t in _base_.train_pipeline
                  if t.type != 'RandomErasing'] + [dict(tokenize, mode='random')]
test_pipeline = [dict(t, with_part_mask=False) if t.type == 'LoadReIDImage' else t
                 for t in _base_.test_pipeline] + [dict(tokenize, mode='all')]
world = dict(_base_.world, preset='text', cache=True)
train_dataloader = dict(num_workers=num_workers, sampler=dict(num_instances=num_instances),
                        dataset=dict(world, pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=num_workers, dataset=dict(
    _delete_=True, split='query', pipeline=test_pipeline, **world))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='TextImageMetric')
test_evaluator = val_evaluator
