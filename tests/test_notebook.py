"""Jupyter views of captures (falcolib.notebook) and the example notebook."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from falcolib.notebook import Capture

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
SAMPLE = SHARED / "captures" / "curl_google.scap"


def sysdig_count(capture: Path, condition: str) -> int:
    out = subprocess.run(["sysdig", "-r", str(capture), condition, "-p", "*%evt.num"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


@pytest.fixture(scope="module")
def cap() -> Capture:
    return Capture.open(SAMPLE)


class TestCaptureView:
    """A capture opens as a view whose counts agree with sysdig."""

    def test_summary_repr_counts_every_event(self, cap):
        text = repr(cap)
        assert text.startswith("<Capture ") and f"{len(cap)} events" in text
        assert len(cap) == sum(1 for _ in cap.views())

    @pytest.mark.oracle
    def test_filter_returns_new_view_with_sysdig_count(self, cap):
        cond = "evt.type in (open, openat) and evt.dir = <"
        view = cap.filter(cond)
        assert view is not cap and cap.conditions == ()
        assert len(view) == sysdig_count(SAMPLE, cond) > 0

    def test_bad_filter_fails_at_once(self, cap):
        from falcolib.errors import FilterSyntaxError
        with pytest.raises(FilterSyntaxError):
            cap.filter("proc.name = = x")

    def test_records_and_html_table(self, cap):
        view = cap.filter("evt.type = execve and evt.dir = <")
        records = view.to_records(["evt.num", "proc.name", "proc.cmdline"])
        assert records and all(set(r) == {"evt.num", "proc.name", "proc.cmdline"} for r in records)
        html = view._repr_html_()
        assert "<table>" in html and records[0]["proc.name"] in html

    def test_html_escapes_event_text(self, cap):
        html = cap.table(["proc.cmdline", "evt.info"], limit=200)._repr_html_()
        body = html.split("<tbody>", 1)[1]
        cells = body.replace("<tr>", "").replace("</tr>", "").replace("<td>", "").replace("</td>", "")
        assert "<" not in cells.replace("</tbody></table>", "")

    def test_dataframe(self, cap):
        pd = pytest.importorskip("pandas")
        df = cap.to_dataframe(["evt.num", "evt.type"])
        assert isinstance(df, pd.DataFrame) and len(df) == len(cap)

    def test_process_tree_links_children_to_parents(self, cap):
        tree = cap.process_tree()
        assert tree.nodes
        for pid, node in tree.nodes.items():
            if node["ppid"] in tree.nodes:
                assert pid in tree.children[node["ppid"]]
        assert len(repr(tree).splitlines()) == len(tree.nodes)

    def test_alerts_of_official_rules(self, cap):
        alerts = cap.alerts(SHARED / "rules" / "falco_rules.yaml")
        assert alerts.count() == sum(alerts.rules().values())


class TestExampleNotebook:
    """examples/explore_capture.ipynb runs top to bottom without errors."""

    def test_runs(self):
        nbformat = pytest.importorskip("nbformat")
        nbclient = pytest.importorskip("nbclient")
        nb = nbformat.read(ROOT / "examples" / "explore_capture.ipynb", as_version=4)
        os.environ["FALCOLIB_SHARED"] = str(SHARED)
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(ROOT / "examples")}})
        client.execute()
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"]
        assert any("<Capture " in str(o.get("data", {}).get("text/plain", "")) for o in outputs)


@pytest.mark.live
class TestLiveCapture:
    """Capture.live records the host for N seconds into a view like any capture."""

    def test_live_view_sees_our_open(self, tmp_path):
        import sys
        target = tmp_path / "notebook-live.txt"
        target.write_text("x")
        # another process: the backend leaves out the falcolib process's own syscalls
        reader = subprocess.Popen([sys.executable, "-c",
                                   "import time, sys\nwhile True:\n"
                                   "    open(sys.argv[1]).read(); time.sleep(0.05)\n",
                                   str(target)])
        try:
            cap = Capture.live(8)
        finally:
            reader.kill()
            reader.wait()
        view = cap.filter(f"evt.type in (open, openat) and fd.name = {target}")
        assert len(view) > 0
        assert repr(cap).startswith("<Capture live ebpf 8s: ")
