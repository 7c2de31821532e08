"""Review reports (`polykfunc report`): docs/report.md.

:func:`collect` gathers everything a report shows as plain data (:mod:`.data`, with the version
diff in :mod:`.diff`, the design comparison in :mod:`.design`, the model's structure in
:mod:`.structure`); :func:`render_html` and :func:`render_markdown` format it with the Jinja2
templates in ``templates/``; :mod:`.svg` draws the diagrams, :mod:`.citations` links kernel
citations.

>>> from polykfunc.model import resolve_target
>>> data = collect([resolve_target("sched_ext@v6.12"), resolve_target("sched_ext@v7.1")])  # doctest: +SKIP
>>> open("review.html", "w").write(render_html(data))                                     # doctest: +SKIP
"""

from .data import ReportData, collect
from .html import render_html
from .markdown import render_markdown

__all__ = ["ReportData", "collect", "render_html", "render_markdown"]
