# CPU twin of configs/sim/sysu_mm01_bot.py (SIM's released base model) on the synthetic infrared
# preset: single-stream SmallReIDNet, GAP, BNNeck, ID (label smoothing) + batch-hard triplet 0.3,
# batches of 8 identities x (4 visible + 4 infrared); evaluated with and without SIM ('sim/' keys).
#   python tools/train.py configs/sim/synthetic_ir_bot.py
_base_ = ['../_base_/datasets/synthetic_ir.py', '../_base_/models/bot_small.py',
          '_base_/synthetic_ir_schedule.py', '_base_/sim_rerank.py']
default_hooks = dict(logger=dict(interval=10))
