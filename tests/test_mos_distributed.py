"""MoS prior across processes: PositiveCooccurrencePrior.update all-reduces with MAX (gloo, CPU).

Two plain worker processes load ``methods/mos/conflict.py`` by path (it is pure torch), so
they import nothing but torch.
"""
import os
import subprocess
import sys

import torch

from asym_plugins.methods.mos import conflict as conflict_module

_WORKER = r"""
import importlib.util, sys
import torch
import torch.distributed as dist

conflict_file, init_file, out_file, rank = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
spec = importlib.util.spec_from_file_location('mos_conflict', conflict_file)
conflict = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conflict)
dist.init_process_group('gloo', init_method='file://' + init_file, rank=rank, world_size=2)
prior = conflict.PositiveCooccurrencePrior(3)
# Rank 0: one positive pair of ones. Rank 1: only negatives (of twos); the call is still collective.
labels = torch.tensor([0, 0, 1]) if rank == 0 else torch.tensor([0, 1, 2])
prior.update(torch.full((3, 3), float(rank + 1)), labels)
prior.sync()
torch.save(dict(M_p=prior.M_p, num_updates=prior.num_updates), out_file)
dist.destroy_process_group()
"""


def test_prior_all_reduce_max_across_ranks(tmp_path):
    script = tmp_path / 'worker.py'
    script.write_text(_WORKER)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    outs = [tmp_path / f'rank{r}.pth' for r in range(2)]
    procs = [subprocess.Popen([sys.executable, str(script), conflict_module.__file__,
                               str(tmp_path / 'init'), str(outs[r]), str(r)], env=env,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    for out in outs:
        state = torch.load(out)
        # Both ranks hold rank 0's positive prior (u u^T = 1); rank 1's negatives never count.
        torch.testing.assert_close(state['M_p'], torch.ones(3, 3))
        assert int(state['num_updates']) == 1
