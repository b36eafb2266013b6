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


def test_method_pages_ablation_tables_are_the_results_file():
    """Each ``docs/<method>.md`` ablation block is ``showcase.py --render`` of its results file,
    for that method (``<!-- ablation-table: METHOD rendered from FILE -->``)."""
    found = 0
    for method in ('mos', 'sap', 'sim', 'mcma'):
        with open(osp.join(ROOT, 'docs', f'{method}.md')) as f:
            page = f.read()
        for m in re.finditer(r'<!-- ablation-table: (\w+) rendered from (\S+) -->\n(.*?)\n'
                             r'<!-- /ablation-table -->', page, re.S):
            assert m.group(1) == method
            with open(osp.join(ROOT, m.group(2))) as f:
                results = json.load(f)
            assert m.group(3).strip() == showcase.format_ablation(results['runs'],
                                                                  method).strip()
            found += 1
    assert found == 4, 'a method page lost its ablation-table markers'
