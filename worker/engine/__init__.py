"""Pure image engine: Real-ESRGAN networks, ncnn weight conversion, tiled upscaling.

Importing this package imports torch but not basicsr (a few seconds); basicsr is imported
only when a network is built.
"""

from worker.engine.budget import TilePlan, activation_bytes_per_pixel, plan_tiles
from worker.engine.catalog import NETWORKS, NetworkSpec, build_network
from worker.engine.device import precision_for, select_device
from worker.engine.ncnn import WeightsFormatError, ncnn_model_dir, read_ncnn_state_dict
from worker.engine.upscaler import COMPILE_MODES, UpscaleCancelled, Upscaler
from worker.engine.weights import load_checkpoint_state_dict, load_network

__all__ = [
    "COMPILE_MODES",
    "TilePlan",
    "activation_bytes_per_pixel",
    "plan_tiles",
    "NETWORKS",
    "NetworkSpec",
    "UpscaleCancelled",
    "Upscaler",
    "WeightsFormatError",
    "build_network",
    "load_checkpoint_state_dict",
    "load_network",
    "ncnn_model_dir",
    "precision_for",
    "read_ncnn_state_dict",
    "select_device",
]
