"""The README's showcase table is the committed results file, rendered by the showcase itself
(one source for those numbers)."""
import json
import os.path as osp
import re
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import showcase  # noqa: E402


def test_readme_showcase_table_is_the_results_file():
    with open(osp.join(ROOT, 'README.md')) as f:
        readme = f.read()
    block = re.search(r'<!-- showcase-table: rendered from (\S+) -->\n(.*?)\n'
                      r'<!-- /showcase-table -->', readme, re.S)
    assert block, 'README lost its showcase-table markers'
    with open(osp.join(ROOT, block.group(1))) as f:
        results = json.load(f)
    assert block.group(2).strip() == showcase.format_table(results['runs']).strip()
    # every run of the file has metrics (a failed run would show as 'failed')
    assert all(r['metrics'] for r in results['runs'])
