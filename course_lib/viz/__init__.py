"""The course's figures, in one consistent, projector-friendly, colour-blind-safe style.

Every function accepts torch tensors or numpy arrays, returns the matplotlib Figure and never calls
``plt.show()``. Figures are created through pyplot, so Jupyter shows them at the end of the cell:
assign the result (``fig = cl.viz.overlay(...)``) or end the line with ``;`` to avoid a second copy.
Style is applied per call (``use_course_style``); global rcParams are never changed.

TP / FP / FN colours (Okabe-Ito based): TP white, FP orange, FN sky blue on a dimmed grey image.
"""

from course_lib.viz._style import (
    COURSE_RC,
    HEAT_CMAP,
    LABELS,
    OKABE_ITO,
    PALETTE,
    PROB_CMAP,
    save_figure,
    use_course_style,
)
from course_lib.viz.curves import compare_bars, history_to_dict, plot_learning_curves, plot_roc
from course_lib.viz.images import (
    IMAGE_STRENGTH,
    OUTSIDE_FOV_STRENGTH,
    confusion_masks,
    dice_score,
    feature_map_grid,
    heatmap,
    image_with_box,
    overlay,
    overlay_rgb,
    show_predictions,
    show_samples,
)

__all__ = [
    "COURSE_RC",
    "HEAT_CMAP",
    "IMAGE_STRENGTH",
    "LABELS",
    "OKABE_ITO",
    "OUTSIDE_FOV_STRENGTH",
    "PALETTE",
    "PROB_CMAP",
    "compare_bars",
    "confusion_masks",
    "dice_score",
    "feature_map_grid",
    "heatmap",
    "history_to_dict",
    "image_with_box",
    "overlay",
    "overlay_rgb",
    "plot_learning_curves",
    "plot_roc",
    "save_figure",
    "show_predictions",
    "show_samples",
    "use_course_style",
]
