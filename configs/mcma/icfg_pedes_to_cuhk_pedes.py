# Cross-domain: train on ICFG-PEDES, test on CUHK-PEDES (slides: 29.55 R1).
# Paper: MCMA (the thesis' MCMA slides).
# Table row: cross-domain ICFG-PEDES -> CUHK-PEDES, MCMA; target R1 29.55.
# Deliberate differences: every one is listed in the header of ./_base_/mcma_vit_bert.py.
_base_ = ['./icfg_pedes.py']
val_dataloader = dict(dataset=dict(type='CUHKPEDES', data_root='data/CUHK-PEDES',
                                   test_split='test'))
test_dataloader = val_dataloader
