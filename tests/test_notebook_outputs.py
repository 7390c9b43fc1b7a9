"""The check behind ``python benchmarks/make_notebook.py --check`` (run by ``make test``): the committed notebook
is in shape (nbformat 4.5, cell ids, executed, nothing machine-specific), the comparison masks only what changes
between runs, and a changed output fails it, end to end in a real kernel on a two-cell notebook (seconds; the
full notebook is executed by ``make test`` itself, not here)."""
import copy
import importlib.util
import os

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("make_notebook", os.path.join(ROOT, "benchmarks", "make_notebook.py"))
make_notebook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_notebook)


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _one_cell(*outputs):
    nb = new_notebook(cells=[new_code_cell("print()", id="c", outputs=list(outputs), execution_count=1)])
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def test_committed_notebook_is_executed_with_ids_and_no_machine_paths():
    nb = nbformat.read(make_notebook.NOTEBOOK, as_version=4)
    assert make_notebook.check_format(nb) == []
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    for machine_specific in (ROOT, os.path.expanduser("~") + os.sep, "0x7f"):
        assert machine_specific not in text
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs or c.id == "setup" for c in code), "a code cell without outputs"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    # Only the public API: no internal module paths imported.
    source = "\n".join(c.source for c in code)
    for internal in ("profiler.report", "profiler.analysis", "profiler.core", "profiler.zoo", "from profiler."):
        assert internal not in source


def test_timings_addresses_and_pictures_are_masked_but_numbers_are_not():
    a = _one_cell(_stream("done in 1.52 s at 0x7f3a2c1b9e80; 300,774,272 MACs\n"))
    b = _one_cell(_stream("done in 0.98 s at 0x7f00deadbeef; 300,774,272 MACs\n"))
    assert make_notebook.compare(a, b) == []
    c = _one_cell(_stream("done in 0.98 s at 0x7f00deadbeef; 300,774,273 MACs\n"))
    (problem,) = make_notebook.compare(a, c)
    assert "300,774,273" in problem and "outputs differ" in problem
    png = lambda data: nbformat.v4.new_output("display_data", data={"image/png": data, "text/plain": "<Figure>"})
    assert make_notebook.compare(_one_cell(png("AAAA")), _one_cell(png("BBBB"))) == []
    assert make_notebook.compare(_one_cell(png("AAAA")), _one_cell()) != []


def test_check_format_wants_ids_and_outputs():
    nb = _one_cell()
    nb.cells[0].execution_count = None
    assert any("not executed" in p for p in make_notebook.check_format(nb))
    nb.nbformat_minor = 4
    assert any("4.5" in p for p in make_notebook.check_format(nb))


def test_check_fails_on_a_changed_output_and_passes_on_the_real_one(tmp_path, capsys):
    nb = new_notebook(cells=[new_code_cell("x = 6 * 7\nprint(f'{x} MACs [macs]')", id="a"),
                             new_code_cell("x", id="b")])
    nb.nbformat, nb.nbformat_minor = 4, 5
    path = str(tmp_path / "tiny.ipynb")
    nbformat.write(nb, path)
    assert make_notebook.main([path]) == 0          # regenerate: executes and writes the outputs
    written = nbformat.read(path, as_version=4)
    assert written.cells[0].outputs[0]["text"] == "42 MACs [macs]\n"
    assert make_notebook.main([path, "--check"]) == 0
    changed = copy.deepcopy(written)
    changed.cells[0].outputs[0]["text"] = "43 MACs [macs]\n"   # a hand-edited (stale) committed output
    nbformat.write(changed, path)
    capsys.readouterr()
    assert make_notebook.main([path, "--check"]) == 1
    err = capsys.readouterr().err
    assert "cell 0 (id a): outputs differ" in err and "-43 MACs [macs]" in err and "+42 MACs [macs]" in err
    broken = copy.deepcopy(written)
    broken.cells[1].source = "raise ValueError('boom')"
    nbformat.write(broken, path)
    assert make_notebook.main([path, "--check"]) == 1   # a cell that raises fails the check
