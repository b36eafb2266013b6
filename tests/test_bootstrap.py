"""tools/bootstrap.sh stops before installing when the disk cannot hold the environment, naming
the folder, the need and the fix (CI once died 60 s into pip with a bare 'Errno 28')."""
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_bootstrap_refuses_a_full_disk_before_pip(tmp_path):
    fake = tmp_path / 'bin'
    fake.mkdir()
    df = fake / 'df'   # 1000 KB available wherever it is asked
    df.write_text('#!/bin/sh\necho "Filesystem 1024-blocks Used Available Capacity Mounted"\n'
                  'echo "/dev/x 100000 99000 1000 99% /"\n')
    df.chmod(0o755)
    env = dict(os.environ, PATH=f'{fake}:{os.environ["PATH"]}', ASYM_PYTHON=sys.executable)
    out = subprocess.run(['bash', osp.join(ROOT, 'tools/bootstrap.sh'), 'setup'], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'only 0 MB free' in out.stderr and sys.prefix in out.stderr
    assert 'installing needs about 1 GB' in out.stderr and 'pip cache purge' in out.stderr
    assert 'installing asym-reid' not in out.stdout   # stopped before pip
