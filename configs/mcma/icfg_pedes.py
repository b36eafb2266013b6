# MCMA on ICFG-PEDES (train 3,102 ids; test 1,000 ids / 19,848 images, one caption each).
# Slides: R1/R5/R10 61.21 / 77.08 / 82.98.
#   python tools/train.py configs/mcma/icfg_pedes.py --amp
# Paper: MCMA (the thesis' MCMA slides).
# Table row: ICFG-PEDES, MCMA; target R1/R5/R10 61.21 / 77.08 / 82.98.
# Deliberate differences: every one is listed in the header of ./_base_/mcma_vit_bert.py.
_base_ = ['../_base_/datasets/icfg_pedes.py', './_base_/mcma_vit_bert.py']
