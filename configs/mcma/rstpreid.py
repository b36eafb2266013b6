# MCMA on RSTPReid (train 3,701 ids; test 200 ids / 1,000 images / 2,000 captions).
# Slides: R1/R5/R10 53.80 / 74.75 / 83.00.
#   python tools/train.py configs/mcma/rstpreid.py --amp
# Paper: MCMA (the thesis' MCMA slides).
# Table row: RSTPReid, MCMA; target R1/R5/R10 53.80 / 74.75 / 83.00.
# Deliberate differences: every one is listed in the header of ./_base_/mcma_vit_bert.py.
_base_ = ['../_base_/datasets/rstpreid.py', './_base_/mcma_vit_bert.py']
