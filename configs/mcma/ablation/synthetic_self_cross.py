# Ablation row "+ self + cross": shared decoder + self- and cross-instance reconstruction.
_base_ = ['../synthetic_text.py']
model = dict(shared_decoder=True, losses=dict(bisim=None))
