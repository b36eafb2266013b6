# MCMA on CUHK-PEDES (train 11,003 ids; test 1,000 ids / 3,074 images / 6,156 captions).
# Slides: R1/R5/R10 67.33 / 84.58 / 90.00.
#   python tools/train.py configs/mcma/cuhk_pedes.py --amp
# Paper: MCMA (the thesis' MCMA slides).
# Table row: CUHK-PEDES, MCMA; target R1/R5/R10 67.33 / 84.58 / 90.00.
# Deliberate differences: every one is listed in the header of ./_base_/mcma_vit_bert.py.
_base_ = ['../_base_/datasets/cuhk_pedes.py', './_base_/mcma_vit_bert.py']
