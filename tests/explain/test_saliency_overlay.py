"""The saliency overlay widget: what it draws, the toggle, the method selector, the warning."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from engine.explain import heat_overlay, upsample_bilinear
from gui.widgets.saliency_overlay import SaliencyOverlay


@pytest.fixture
def overlay(qtbot):
    widget = SaliencyOverlay(alpha=0.5)
    qtbot.addWidget(widget)
    return widget


def digit_and_heat():
    rng = np.random.default_rng(0)
    digit = rng.integers(0, 256, (28, 28, 1)).astype(np.uint8)
    heat = np.zeros((28, 28))
    heat[4:10, 18:24] = 1.0
    return digit, heat


def test_the_map_is_drawn_over_the_network_input(overlay):
    digit, heat = digit_and_heat()
    overlay.set_images(digit)
    np.testing.assert_array_equal(overlay.input_view.array(), np.repeat(digit, 3, axis=2))
    overlay.set_heat(heat)
    np.testing.assert_array_equal(overlay.input_view.array(), heat_overlay(digit, heat, 0.5))
    assert overlay.original_view.array() is None


def test_the_map_covers_only_the_part_of_the_original_the_input_shows(overlay):
    digit, heat = digit_and_heat()
    original = np.full((100, 80, 3), 200, np.uint8)
    overlay.set_images(digit, original, input_box=(10, 20, 56, 56))
    overlay.set_heat(heat)
    drawn = overlay.original_view.array()
    assert drawn.shape == (100, 80, 3)
    np.testing.assert_array_equal(drawn[:10], original[:10])  # outside the box: untouched
    np.testing.assert_array_equal(drawn[:, :20], original[:, :20])
    expected = heat_overlay(original[10:66, 20:76], upsample_bilinear(heat, (56, 56)), 0.5)
    np.testing.assert_array_equal(drawn[10:66, 20:76], expected)


def test_a_large_original_is_shown_shrunk_with_its_box(overlay):
    digit, heat = digit_and_heat()
    overlay.set_images(digit, np.zeros((1120, 560), np.uint8), input_box=(0, 0, 560, 560))
    overlay.set_heat(heat)
    drawn = overlay.original_view.array()
    assert drawn.shape == (280, 140, 3)
    assert drawn[:140].any() and not drawn[140:].any()  # heat only in the top half


def test_toggle_hides_the_map_and_tells_the_page(overlay, qtbot):
    digit, heat = digit_and_heat()
    overlay.set_images(digit)
    overlay.set_heat(heat)
    with qtbot.waitSignal(overlay.overlay_toggled, timeout=1000) as blocker:
        overlay.toggle.setChecked(False)
    assert blocker.args == [False] and not overlay.overlay_enabled()
    np.testing.assert_array_equal(overlay.input_view.array(), np.repeat(digit, 3, axis=2))
    overlay.toggle.setChecked(True)
    np.testing.assert_array_equal(overlay.input_view.array(), heat_overlay(digit, heat, 0.5))


def test_method_selector_emits_the_method_key(overlay, qtbot):
    assert overlay.method() == "gradcam"
    with qtbot.waitSignal(overlay.method_changed, timeout=1000) as blocker:
        overlay.selector.setCurrentIndex(2)
    assert blocker.args == ["occlusion"]
    with qtbot.assertNotEmitted(overlay.method_changed):
        overlay.set_method("gradient")
    assert overlay.method() == "gradient"
    with pytest.raises(ValueError, match="unknown method"):
        overlay.set_method("magic")


def test_warning_and_bad_maps(overlay):
    overlay.show()
    assert not overlay.warning.isVisible()
    overlay.set_unfamiliar(True)
    assert overlay.warning.isVisible() and "does not look like" in overlay.warning.text()
    overlay.set_unfamiliar(False)
    assert not overlay.warning.isVisible()
    digit, _ = digit_and_heat()
    overlay.set_images(digit)
    with pytest.raises(ValueError, match="the map is"):
        overlay.set_heat(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="does not lie inside"):
        overlay.set_images(digit, np.zeros((50, 50), np.uint8), input_box=(40, 0, 20, 20))
