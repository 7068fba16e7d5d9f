"""Pictures of a run, drawn only when matplotlib is installed (`pip install tinytorch[plots]`).

- curves.png: train and test loss and accuracy against epochs (every run);
- filters.png: the first convolution's kernels, on one shared scale (CNNs);
- feature_maps.png: one test image through each conv block (CNNs);
- predictions.png: test images with the network's answers and the true labels (image classifiers);
- confusion.png: which classes the network mistakes for which (image classifiers);
- boundary.png: the class a model gives each point of the plane, under the data (2-D data).

Each function draws one picture at a fixed size in pixels (canvas.SIZES) and returns its path.
"""

from tito.milestones.plots.canvas import BOUNDARY_PANEL, SIZES, available
from tito.milestones.plots.classes import confusion_matrix, decision_boundary
from tito.milestones.plots.curves import training_curves
from tito.milestones.plots.images import feature_maps, first_layer_filters, predictions

__all__ = [
    "BOUNDARY_PANEL",
    "SIZES",
    "available",
    "confusion_matrix",
    "decision_boundary",
    "feature_maps",
    "first_layer_filters",
    "predictions",
    "training_curves",
]
