"""The dashboard's charts: each series drawn as an SVG (pygal, on the server) and given as a table
and a CSV with the same rows, so the figures read the same with or without the picture.

pygal writes a config ``<script>`` into every SVG even with ``js=[]``: an XML filter removes it,
so the SVG is a plain picture (nothing to run, nothing for the CSP to refuse).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pygal
from pygal.style import Style

from newsletter.issues.dashboard import Engagement, IssueOutcome, WeekReaders
from newsletter.readers.csv_formats import spreadsheet_safe

Cell = str | int
# Large type: the SVG is drawn 800 wide and shrinks with the page (to ~290 px on a phone).
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1d1d1f",
    foreground_strong="#1d1d1f",
    foreground_subtle="#767676",
    font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
    label_font_size=16,
    major_label_font_size=16,
    legend_font_size=18,
    title_font_size=20,
    no_data_font_size=24,
    colors=("#0b57d0", "#b3261e", "#8a5a00", "#1e7d32"),
)
WIDTH, HEIGHT = 800, 420


@dataclass(frozen=True)
class Chart:
    name: str  # its addresses: /admin/dashboard/<name>.svg and .csv
    title: str
    caption: str
    headers: list[str]
    rows: list[list[Cell]]
    draw: Callable[[], str]  # the SVG, made only when asked for

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.headers)
        writer.writerows([spreadsheet_safe(c) if isinstance(c, str) else c for c in row] for row in self.rows)
        return out.getvalue()


def _no_scripts(root: Any) -> Any:
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def _whole_numbers(series: Sequence[tuple[str, list[int]]]) -> list[int]:
    """Axis ticks for counts: 0 to the top in about five whole steps (never 0.1, 0.2, ...)."""
    top = max((v for _, values in series for v in values), default=0)
    step = max(1, math.ceil(top / 5))
    return list(range(0, max(top, 1) + step, step))


def _svg(chart: Any, title: str, labels: Sequence[str], series: Sequence[tuple[str, list[int]]]) -> str:
    chart.add_xml_filter(_no_scripts)  # an attribute of the chart, not a config key
    chart.title = title
    chart.y_labels = _whole_numbers(series)
    chart.x_labels = list(labels)
    for name, values in series:
        chart.add(name, values)
    return str(chart.render(is_unicode=True))


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "js": [],
        "disable_xml_declaration": True, "style": STYLE, "width": WIDTH, "height": HEIGHT,
        "legend_at_bottom": True, "legend_at_bottom_columns": 4, "legend_box_size": 18, "margin_bottom": 30, "truncate_label": 12,
        "no_data_text": "Nothing yet", "min_scale": 1, "print_zeroes": False, **extra,
    }


def readers_chart(weeks: list[WeekReaders]) -> Chart:
    labels = [w.label for w in weeks]
    series = [("Joined", [w.joined for w in weeks]), ("Left", [w.left for w in weeks]),
              ("Bounced", [w.bounced for w in weeks])]
    title = f"Readers per week, last {len(weeks)} weeks"
    return Chart(
        name="readers",
        title=title,
        caption=(f"{title}. Joined: sign-ups, returning readers and imports; left: unsubscribes and "
                 "complaints; bounced: hard bounces and suspensions after repeated soft bounces. "
                 "Weeks start on Monday (UTC)."),
        headers=["week starting", "joined", "left", "bounced"],
        rows=[[w.week_start.isoformat(), w.joined, w.left, w.bounced] for w in weeks],
        draw=lambda: _svg(pygal.Bar(**_config(show_minor_x_labels=False, x_labels_major_every=4)), title, labels, series),
    )


def issues_chart(outcomes: list[IssueOutcome]) -> Chart:
    labels = [f"#{o.number}" for o in outcomes]
    series = [("Delivered", [o.delivered for o in outcomes]), ("Bounced", [o.bounced for o in outcomes]),
              ("Complaints", [o.complaints for o in outcomes]),
              ("Unsubscribes", [o.unsubscribes for o in outcomes])]
    title = f"Outcome of the last {len(outcomes)} issues" if outcomes else "Outcome of each issue"
    return Chart(
        name="issues",
        title=title,
        caption=(f"{title}. Unsubscribes and complaints count for the last issue a reader was sent, "
                 "within 30 days; opens and clicks are unique readers, blank when not tracked."),
        headers=["issue", "subject", "recipients", "delivered", "bounced", "complaints", "unsubscribes",
                 "opened", "clicked"],
        rows=[[o.number, o.subject, o.recipients, o.delivered, o.bounced, o.complaints, o.unsubscribes,
               "" if o.unique_opens is None else o.unique_opens,
               "" if o.unique_clicks is None else o.unique_clicks] for o in outcomes],
        draw=lambda: _svg(pygal.Bar(**_config()), title, labels, series),
    )


def engagement_chart(found: Engagement | None) -> Chart:
    hours = found.hours if found else []
    title = (f"Opens and clicks of #{found.issue.number}, first {len(hours)} hours" if found
             else "Opens and clicks, first 72 hours")
    series = [("Opens", [h.opens for h in hours]), ("Clicks", [h.clicks for h in hours])]
    return Chart(
        name="engagement",
        title=title,
        caption=(f"{title}, per hour after the first email went out. Opens are a lower bound: many "
                 "mail programs block images."),
        headers=["hour after sending", "opens", "clicks"],
        rows=[[h.hour, h.opens, h.clicks] for h in hours],
        draw=lambda: _svg(pygal.Line(**_config(show_minor_x_labels=False, x_labels_major_every=12,
                                               dots_size=2, fill=False)),
                          title, [str(h.hour) for h in hours], series),
    )


def links_chart(found: Engagement | None) -> Chart:
    links = found.top_links if found else []
    title = f"Most clicked links of #{found.issue.number}" if found else "Most clicked links"
    return Chart(
        name="links",
        title=title,
        caption=f"{title}: clicks in all, and how many readers clicked.",
        headers=["link", "address", "clicks", "readers"],
        rows=[[link.idx, link.url, link.clicks, link.readers] for link in links],
        draw=lambda: _svg(pygal.HorizontalBar(**_config(truncate_label=30)), title,
                          [link.url.split("://", 1)[-1] for link in links],
                          [("Clicks", [link.clicks for link in links]),
                           ("Readers", [link.readers for link in links])]),
    )
