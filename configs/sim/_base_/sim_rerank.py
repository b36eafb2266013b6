# The runtime of the SIM configs: every evaluation runs twice, as the model ranks and re-ranked
# by SIM (official mode, the released SYSU-MM01 hyper-parameters; keys logged with 'sim/').
_base_ = ['../../_base_/default_runtime.py']
# asym_plugins.methods.sim registers SIMReranker, which SIMRerankHook builds.
custom_imports = dict(imports=['asym_plugins', 'asym_plugins.methods.sim'],
                      allow_failed_imports=False)
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    dict(type='SIMRerankHook', mode='official', preset='sysu_mm01'),
]
