"""The repository is self-contained: no line names a machine path or a spec file that is not in
the repository, and every relative Markdown link points at a file that exists."""
import os.path as osp
import re
import subprocess

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# machine paths of our own machines and names of the team's spec files (not in the repository)
FORBIDDEN = re.compile(r'/work/|/shared/|\.\./shared|\bMETHODS\.md\b|\bDATASETS\.md\b|'
                       r'\bDESIGN\.md\b|(?<![\w/])/root/|(?<![\w/])/home/\w')
TEXT = ('.py', '.md', '.sh', '.yaml', '.yml', '.txt', '.ini', '.cfg', '.toml', '')
LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')


def tracked_files():
    out = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return [p for p in out if osp.splitext(p)[1] in TEXT and osp.isfile(osp.join(ROOT, p))]


def test_no_machine_paths_or_outside_spec_files():
    this = osp.relpath(__file__, ROOT)
    hits = []
    for path in tracked_files():
        if path == this:
            continue
        with open(osp.join(ROOT, path), errors='replace') as f:
            for n, line in enumerate(f, 1):
                if FORBIDDEN.search(line):
                    hits.append(f'{path}:{n}: {line.strip()[:100]}')
    assert not hits, 'lines naming files outside the repository:\n' + '\n'.join(hits)


def test_markdown_links_resolve():
    broken = []
    for path in tracked_files():
        if not path.endswith('.md'):
            continue
        with open(osp.join(ROOT, path)) as f:
            text = f.read()
        for target in LINK.findall(text):
            if re.match(r'[a-z]+:', target):
                continue  # http(s):, mailto:
            if not osp.exists(osp.join(ROOT, osp.dirname(path), target)):
                broken.append(f'{path}: ({target})')
    assert not broken, 'links to files not in the repository:\n' + '\n'.join(broken)
