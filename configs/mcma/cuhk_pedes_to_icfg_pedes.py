# Cross-domain: train on CUHK-PEDES, test on ICFG-PEDES (slides: 37.37 R1). Only the test data
# changes; the tokenizer is the training text encoder's.
#   python tools/test.py configs/mcma/cuhk_pedes_to_icfg_pedes.py work_dirs/mcma/cuhk_pedes/epoch_60.pth
# Paper: MCMA (the thesis' MCMA slides).
# Table row: cross-domain CUHK-PEDES -> ICFG-PEDES, MCMA; target R1 37.37.
# Deliberate differences: every one is listed in the header of ./_base_/mcma_vit_bert.py.
_base_ = ['./cuhk_pedes.py']
val_dataloader = dict(dataset=dict(type='ICFGPEDES', data_root='data/ICFG-PEDES',
                                   test_split='test'))
test_dataloader = val_dataloader
