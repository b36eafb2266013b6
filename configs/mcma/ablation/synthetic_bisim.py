# Ablation row "+ bisim": shared decoder + cross-identity bisimulation (no reconstruction).
_base_ = ['../synthetic_text.py']
model = dict(shared_decoder=True, losses=dict(self_recon=None, cross_recon=None))
