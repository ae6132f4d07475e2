from __future__ import annotations

from harness.dashboard.svg import badge, sparkline


def test_sparkline_points_and_gaps() -> None:
    svg = sparkline([1.0, None, 0.5, 0.0], width=100, height=20)
    assert svg.count("<polyline") == 1
    assert "2.0,2.0" in svg  # 100 % at the top-left
    assert "100.0" not in svg.split("points=")[1].split('"')[1].split()[0]
    assert "pass rate of the last 4 runs: 100%, -, 50%, 0%" in svg
    assert "<polyline" not in sparkline([None, None])


def test_badge_escapes_and_colours() -> None:
    svg = badge("<b>demo</b> on npu", "97% passing", "pass")
    assert "<b>" not in svg
    assert "&lt;b&gt;demo&lt;/b&gt; on npu" in svg
    assert "#2da44e" in svg
    assert svg.startswith("<svg xmlns=")
