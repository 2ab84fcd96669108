"""The course's figures, in one consistent, projector-friendly, colour-blind-safe style.

Every function accepts torch tensors or numpy arrays, returns the matplotlib Figure and never calls
``plt.show()``. Figures are created through pyplot, so Jupyter shows them at the end of the cell:
assign the result (``fig = cl.viz.overlay(...)``) or end the line with ``;`` to avoid a second copy.
Style is applied per call (``use_course_style``); global rcParams are never changed.
General figures live in ``images`` and ``curves``; each chapter's own figures in a module named after its
topic (``architecture`` for SE/RSE/DAC/DACRSE-UNet drawn from the modules, ``attention``,
``dropblock``, ``family``, ``se``, ``unetpp``, ``receptive_field``, ``tiling``),
re-exported here.

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
from course_lib.viz.architecture import draw_dac_block, draw_dacrse_unet, draw_rse_block, draw_se_block
from course_lib.viz.attention import (
    attention_overlay,
    draw_gated_unet,
    draw_recurrent_unrolled,
    plot_arm_scores,
    plot_attention_grid,
    plot_norm_modes,
)
from course_lib.viz.curves import (
    compare_bars,
    history_to_dict,
    plot_learning_curves,
    plot_roc,
    plot_score_vs_time,
    plot_seed_curves,
    plot_seed_profiles,
)
from course_lib.viz.dropblock import plot_block_mask, plot_drop_rates, plot_keep_prob_schedule
from course_lib.viz.family import draw_units, plot_pareto, plot_sparse_labels, plot_volume_predictions
from course_lib.viz.images import (
    IMAGE_STRENGTH,
    OUTSIDE_FOV_STRENGTH,
    confusion_masks,
    dice_score,
    feature_map_grid,
    heatmap,
    image_with_box,
    overlay,
    overlay_grid,
    overlay_rgb,
    show_predictions,
    show_samples,
)
from course_lib.viz.receptive_field import plot_footprints, plot_receptive_field
from course_lib.viz.se import plot_propagation, plot_se_by_group, se_weight_heatmap
from course_lib.viz.tiling import plot_instances, plot_overlap_tile, plot_seams, plot_weight_map
from course_lib.viz.u2net import draw_u2net, plot_pr_curves, plot_side_outputs
from course_lib.viz.unetpp import draw_nested_grid, plot_pruning_tradeoff

__all__ = [
    "COURSE_RC",
    "HEAT_CMAP",
    "IMAGE_STRENGTH",
    "LABELS",
    "OKABE_ITO",
    "OUTSIDE_FOV_STRENGTH",
    "PALETTE",
    "PROB_CMAP",
    "attention_overlay",
    "compare_bars",
    "confusion_masks",
    "dice_score",
    "draw_dac_block",
    "draw_dacrse_unet",
    "draw_gated_unet",
    "draw_nested_grid",
    "draw_recurrent_unrolled",
    "draw_rse_block",
    "draw_se_block",
    "draw_u2net",
    "draw_units",
    "feature_map_grid",
    "heatmap",
    "history_to_dict",
    "image_with_box",
    "overlay",
    "overlay_grid",
    "overlay_rgb",
    "plot_arm_scores",
    "plot_attention_grid",
    "plot_block_mask",
    "plot_drop_rates",
    "plot_footprints",
    "plot_instances",
    "plot_keep_prob_schedule",
    "plot_learning_curves",
    "plot_norm_modes",
    "plot_overlap_tile",
    "plot_pareto",
    "plot_pr_curves",
    "plot_propagation",
    "plot_pruning_tradeoff",
    "plot_receptive_field",
    "plot_roc",
    "plot_score_vs_time",
    "plot_se_by_group",
    "plot_seams",
    "plot_seed_curves",
    "plot_seed_profiles",
    "plot_side_outputs",
    "plot_sparse_labels",
    "plot_volume_predictions",
    "plot_weight_map",
    "save_figure",
    "se_weight_heatmap",
    "show_predictions",
    "show_samples",
    "use_course_style",
]
