"""The Learned filters and Feature maps tabs of the Evaluate page: the convolution filters of
the model in view, and every layer's response to the Predict page's current input (both read
from the application model)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.evaluation import conv_layers, feature_map_mosaic, feature_maps, filter_mosaic
from gui.state import AppModel
from gui.widgets.pixel_view import PixelView


def _layer_row(picker: QComboBox, caption: QLabel) -> QHBoxLayout:
    """"Layer [picker] caption": the row above the filter and feature-map views."""
    row = QHBoxLayout()
    row.addWidget(QLabel("Layer"))
    row.addWidget(picker)
    row.addWidget(caption, 1)
    return row


class LayerViews:
    """Owns the two tab widgets, ``filters`` and ``maps``, and keeps them current."""

    def __init__(self, app_model: AppModel):
        self.app_model = app_model
        self._maps: list = []
        self.filter_layer = QComboBox()
        self.filter_view = PixelView(minimum=200)
        self.filter_view.set_placeholder("No convolution layers")
        self.filter_caption = QLabel()
        self.filters = filters = QWidget()
        fl = QVBoxLayout(filters)
        fl.addLayout(_layer_row(self.filter_layer, self.filter_caption))
        fl.addWidget(self.filter_view, 1)

        # feature maps
        self.map_layer = QComboBox()
        self.map_view = PixelView(minimum=200)
        self.map_view.set_placeholder("Draw or load an image on the Predict page to see how each "
                                      "layer responds to it")
        self.map_input = PixelView(minimum=84)
        self.map_caption = QLabel()
        self.maps = maps = QWidget()
        fm = QVBoxLayout(maps)
        fm.addLayout(_layer_row(self.map_layer, self.map_caption))
        body = QHBoxLayout()
        input_box = QVBoxLayout()
        input_box.addWidget(QLabel("Input"))
        input_box.addWidget(self.map_input)
        input_box.addStretch(1)
        body.addLayout(input_box)
        body.addWidget(self.map_view, 1)
        fm.addLayout(body, 1)

        for picker in (self.filter_layer, self.map_layer):  # "relu2  (7×7×16)", not "relu2 (7"
            picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.filter_layer.currentIndexChanged.connect(self._show_filters)
        self.map_layer.currentIndexChanged.connect(self._show_maps)
        app_model.predict_input_changed.connect(lambda _x: self._refresh_maps())
        app_model.model_changed.connect(lambda _m: self.refresh())
        app_model.snapshot_changed.connect(lambda _m: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        self._fill_filter_layers()
        self._refresh_maps()

    def _model(self):
        return self.app_model.viewed_model

    # --- filters and maps --------------------------------------------------------------------
    def _fill_filter_layers(self) -> None:
        trained = self._model()
        self.filter_layer.blockSignals(True)
        self.filter_layer.clear()
        if trained is not None:
            for name, w in conv_layers(trained):
                self.filter_layer.addItem(f"{name}  ({w.shape[3]} × {w.shape[0]}×{w.shape[1]}×"
                                          f"{w.shape[2]})", name)
        self.filter_layer.blockSignals(False)
        self._show_filters()

    def _show_filters(self) -> None:
        trained = self._model()
        name = self.filter_layer.currentData()
        if trained is None or name is None:
            self.filter_view.set_array(None)
            self.filter_caption.setText("")
            return
        weights = dict(conv_layers(trained))[name]
        mosaic, caption = filter_mosaic(weights)
        self.filter_view.set_array(mosaic)
        self.filter_caption.setText(caption)

    def _refresh_maps(self) -> None:
        trained, x = self._model(), self.app_model.predict_input
        current = self.map_layer.currentData()
        self.map_layer.blockSignals(True)
        self.map_layer.clear()
        self._maps = []
        if trained is not None and x is not None:
            try:
                self._maps = [(n, m) for n, m in feature_maps(trained, x) if m.ndim == 3]
            except ValueError:
                self._maps = []
            for name, m in self._maps:
                self.map_layer.addItem(f"{name}  ({m.shape[0]}×{m.shape[1]}×{m.shape[2]})", name)
            index = self.map_layer.findData(current)
            self.map_layer.setCurrentIndex(max(0, index))
        self.map_layer.blockSignals(False)
        self.map_input.set_array(x)
        self._show_maps()

    def _show_maps(self) -> None:
        name = self.map_layer.currentData()
        maps = dict(self._maps)
        if name is None or name not in maps:
            self.map_view.set_array(None)
            self.map_caption.setText("")
            return
        mosaic, caption = feature_map_mosaic(maps[name])
        self.map_view.set_array(mosaic)
        self.map_caption.setText(caption)
