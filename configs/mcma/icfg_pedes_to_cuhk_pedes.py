# Cross-domain: train on ICFG-PEDES, test on CUHK-PEDES (slides: 29.55 R1).
_base_ = ['./icfg_pedes.py']
val_dataloader = dict(dataset=dict(type='CUHKPEDES', data_root='data/CUHK-PEDES',
                                   test_split='test'))
test_dataloader = val_dataloader
