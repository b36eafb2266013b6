# Caption data recipe (CUHK-PEDES / ICFG-PEDES / RSTPReid; IRRA's: 384x128 images, 77 text
# tokens, 32 identities x 2 images per batch). Training: image-caption pairs of the 'train'
# split; TokenizeCaptions uses the text encoder's tokenizer (a `save_pretrained` folder of
# bert-base-uncased; nothing is downloaded). Test: TextImageMetric takes every test image as
# the gallery and every caption it carries as a query, so the test set is the captioned test
# images, i.e. the parsers' 'query' split (not query + gallery). A dataset base fills the type.
_base_ = ['./reid_256x128.py']
img_h, img_w = 384, 128
batch_size, num_instances = 64, 2   # 32 identities x 2 images (cross-instance pairs)
text_encoder_path = 'checkpoints/bert-base-uncased'
max_length = 77
tokenize = dict(type='TokenizeCaptions', tokenizer=text_encoder_path, max_length=max_length)
train_pipeline = [
    dict(t, with_part_mask=False) if t.type == 'LoadReIDImage' else
    dict(t, scale=(img_w, img_h)) if t.type == 'Resize' else t
    for t in _base_.train_pipeline] + [dict(tokenize, mode='random')]
test_pipeline = [
    dict(t, with_part_mask=False) if t.type == 'LoadReIDImage' else
    dict(t, scale=(img_w, img_h)) if t.type == 'Resize' else t
    for t in _base_.test_pipeline] + [dict(tokenize, mode='all')]
train_dataloader = dict(sampler=dict(num_instances=num_instances),
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, dataset=dict(
    _delete_=True, split='query', test_split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='TextImageMetric')
test_evaluator = val_evaluator
