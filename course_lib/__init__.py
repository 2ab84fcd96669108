"""course_lib: the library behind the U-Net course.

    import course_lib as cl
    model = cl.create_model("unet", in_channels=1, out_channels=1)
    data = cl.data.load("synthetic-vessels", split="train")
"""

from course_lib import blocks, config, data, models
from course_lib.models import create_model, list_models

__version__ = "0.1.0"
__all__ = ["blocks", "config", "create_model", "data", "list_models", "models"]
