# AGW on RegDB (trial 1; see configs/_base_/datasets/regdb.py for the other trials), both
# directions, evaluated with and without SIM (official mode, the released RegDB
# hyper-parameters); SIM's keys are logged with the prefix 'sim/'.
#   python tools/train.py configs/sim/regdb_agw.py
_base_ = ['../_base_/datasets/regdb_288x144.py', '_base_/agw_r50.py', '_base_/sim_rerank.py']
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    dict(type='SIMRerankHook', mode='official', preset='regdb'),
]
