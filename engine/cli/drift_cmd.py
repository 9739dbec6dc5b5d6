"""``spamops drift``: text drift of message files against a reference (a stable contract).

``spamops drift --reference REF --current CUR [--current CUR2 ...] [--min-window N]
[--json]``. Without ``--reference`` the champion's training texts are the reference. With
``--json`` it prints one JSON object per current window, one per line, in input order. A
window below ``--min-window`` (default ``monitoring.min_window``) is ``INSUFFICIENT_DATA``.
Heavy imports (scipy, sklearn) happen inside the command, through ``Services``, so that
``spamops --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli._common import emit_json, json_option, services_of
from engine.cli._files import reading_options

if TYPE_CHECKING:
    from engine.drift import DriftReport


def render_report(report: DriftReport) -> str:
    """The readable drift report of one window."""

    judged = report.recommendation != "INSUFFICIENT_DATA"

    def verdict(score: float) -> str:
        if score > report.threshold:
            return (f"(> {report.threshold:.2f} threshold) "
                    + ("DRIFT DETECTED" if judged else "not judged"))
        return f"(<= {report.threshold:.2f} threshold) ok"

    model = f"model v{report.model_version}" if report.model_version is not None else "no model"
    lines = [
        f"Drift report: {report.source or 'window'} ({report.n} messages, {model}, "
        f"reference {report.reference_size} messages, {report.timestamp:%Y-%m-%d %H:%M} UTC)",
        f"  Vocabulary Drift: {report.vocabulary_drift:.2f} {verdict(report.vocabulary_drift)}"
        f"  [{report.vocabulary_oov_rate:.1%} of tokens unseen in the reference]",
        f"  TF-IDF Drift:     {report.tfidf_drift:.2f} {verdict(report.tfidf_drift)}"
        f"  [cosine distance {report.tfidf_distance:.4f}]",
    ]
    if report.prediction_drift is None or report.spam_rate is None:
        lines.append("  Prediction Drift: n/a (no model)")
    else:
        shift = ("" if report.spam_rate_drift is None
                 else f" {report.spam_rate_drift:.2f} {verdict(report.spam_rate_drift)}")
        p_value = ("" if report.prediction_p_value is None
                   else f", calibrated p={report.prediction_p_value:.3g}")
        lines.append(
            f"  Spam-rate Drift: {shift.strip() or 'n/a'}  [spam rate {report.spam_rate:.1%} vs "
            f"{report.reference_spam_rate or 0.0:.1%} in the reference{p_value}]")
    decision = "DRIFT DETECTED" if report.drift_detected else "no drift"
    if report.drift_components:
        decision += f" ({', '.join(report.drift_components)})"
    if not judged:
        decision = "not judged"
    lines.append(f"  Drift Score:      {report.drift_score:.2f} (threshold "
                 f"{report.threshold:.2f}, p={report.p_value:.3f}) {decision}")
    if report.new_patterns:
        lines.append(f"  New patterns detected: {[p.term for p in report.new_patterns]}")
    lines.append(f"  Recommendation: {report.recommendation}")
    if report.reason:
        lines.append(f"  Reason: {report.reason}")
    return "\n".join(lines)


@click.command("drift")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="Reference messages (default: the champion's training data).")
@click.option("--current", "currents", type=click.Path(path_type=Path), multiple=True,
              required=True,
              help="Window file, or a directory of *.txt windows; repeatable.")
@click.option("--min-window", type=click.IntRange(1, None), default=None,
              help="Fewest messages a window needs to be judged (default: monitoring."
                   "min_window, 200); a smaller one is recommended INSUFFICIENT_DATA.")
@reading_options(labels=False)
@json_option
@click.pass_context
def drift(ctx: click.Context, reference: Path | None, currents: tuple[Path, ...],
          min_window: int | None, encoding: str | None, text_column: str | None,
          as_json: bool) -> None:
    """Measure vocabulary, TF-IDF and prediction drift of each --current window.

    Files hold one message per line, or are CSV/TSV with a text column (text, message, sms,
    v2, ...), JSON Lines, Parquet, or UCI (`label<TAB>text`); UTF-8 or a detected legacy
    encoding. A window smaller than --min-window is scored but not judged: its
    recommendation is INSUFFICIENT_DATA, with the reason.
    """
    from engine.files import read_messages, read_windows

    windows = [window for path in currents
               for window in read_windows(path, encoding=encoding, text_column=text_column)]
    reference_texts = (read_messages(reference, encoding=encoding, text_column=text_column)
                       if reference is not None else None)
    # With --reference no model is needed, so neither is a data home.
    services = services_of(ctx, check_home=reference is None)
    reports = services.drift_reports(windows, reference_texts, min_window=min_window)
    for i, report in enumerate(reports):
        if as_json:
            emit_json(report.to_dict())
        else:
            if i:
                click.echo()
            click.echo(render_report(report))


commands: list[click.Command] = [drift]
