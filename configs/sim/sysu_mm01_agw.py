# AGW on SYSU-MM01 (all-search, multi-shot, 10 trials), evaluated with and without SIM (official
# mode, the released SYSU-MM01 hyper-parameters); SIM's keys are logged with the prefix 'sim/'.
# AGW trains at 288x144 with 8 identities x (4 visible + 4 infrared) per batch.
#   python tools/train.py configs/sim/sysu_mm01_agw.py
#   python tools/test.py configs/sim/sysu_mm01_agw.py work_dirs/sim/sysu_mm01_agw/epoch_60.pth
_base_ = ['../_base_/datasets/sysu_mm01_288x144.py', '_base_/agw_r50.py', '_base_/sim_rerank.py']
