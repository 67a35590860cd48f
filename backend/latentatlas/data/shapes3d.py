"""Procedural Shapes3D-like scenes (after Burgess & Kim 2018): an object in a room corner.

Factors (sizes) as in the original: floor hue 10, wall hue 10, object hue 10 (0..0.9),
scale 8 (0.75..1.25), shape 4 (cube, cylinder, sphere, capsule), orientation 15 (-30..30
degrees): 480,000 RGB images. The camera's orientation moves the room's corner across the
view; the object stands on the floor with simple Lambert-like shading and a soft shadow.
Everything is a closed-form function of the pixel coordinates, rendered in one vectorised
pass at twice the resolution and averaged down (anti-aliasing).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from latentatlas.data.base import FactorDataset
from latentatlas.data.spec import DatasetSpec

SHAPES = ("cube", "cylinder", "sphere", "capsule")
_SATURATION, _VALUE = 0.8, 0.95
_OBJECT_BASE_Y = 0.86  # where the object touches the floor
_OBJECT_RADIUS = 0.12  # half-width of a scale-1 object
_SUPERSAMPLE = 2  # render at 2x and average: anti-aliased edges, like a real renderer's


def hsv_to_rgb(hue: torch.Tensor, saturation: float, value: float) -> torch.Tensor:
    """HSV -> RGB for a hue tensor (...), returning (..., 3)."""
    k = torch.stack([(5 + hue * 6) % 6, (3 + hue * 6) % 6, (1 + hue * 6) % 6], dim=-1)
    return value - value * saturation * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


class Shapes3D(FactorDataset):
    name = "shapes3d"
    channels = 3
    factor_names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    factor_sizes = (10, 10, 10, 8, 4, 15)
    factor_values = (
        np.linspace(0.0, 0.9, 10),
        np.linspace(0.0, 0.9, 10),
        np.linspace(0.0, 0.9, 10),
        np.linspace(0.75, 1.25, 8),
        np.arange(4, dtype=np.float64),
        np.linspace(-30.0, 30.0, 15),
    )

    def __init__(self, spec: DatasetSpec | None = None) -> None:
        spec = spec or DatasetSpec(name="shapes3d")
        self.image_size = spec.image_size
        super().__init__(spec)

    def render(self, factors: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        factors = np.asarray(factors)
        x, y = self._pixel_grid(device, supersample=_SUPERSAMPLE)
        floor_rgb = hsv_to_rgb(self._factor_tensor(factors, 0, device), _SATURATION, _VALUE)  # (n,1,1,3)
        wall_rgb = hsv_to_rgb(self._factor_tensor(factors, 1, device), _SATURATION, _VALUE)
        object_rgb = hsv_to_rgb(self._factor_tensor(factors, 2, device), _SATURATION, _VALUE)
        scale = self._factor_tensor(factors, 3, device)
        shape = torch.as_tensor(factors[:, 4], device=device).view(-1, 1, 1)
        turn = self._factor_tensor(factors, 5, device) / 30.0  # -1..1

        # Room: the corner line sits at corner_x; the floor meets both walls along a
        # shallow inverted V, so points further from the corner are closer to the camera.
        corner_x = 0.5 - 0.3 * turn
        horizon = 0.5 + 0.28 * (x - corner_x).abs()
        is_floor = y > horizon
        left_wall = x < corner_x
        wall_shade = torch.where(left_wall, 0.72 + 0.1 * y, 0.95 - 0.1 * y)
        floor_shade = 0.65 + 0.35 * ((y - 0.5) / 0.5).clamp(0, 1)

        # Object frame: centred horizontally, standing on the floor at _OBJECT_BASE_Y.
        r = _OBJECT_RADIUS * scale
        u = (x - 0.5) / r  # -1..1 across the object
        v = (_OBJECT_BASE_Y - y) / r  # 0 at the base, upwards
        shadow = ((x - 0.5 - 0.9 * r) / (1.6 * r)).square() + ((y - _OBJECT_BASE_Y) / (0.28 * r)).square() < 1
        floor_shade = torch.where(shadow, floor_shade * 0.55, floor_shade)

        # Cube: front face plus a top face sheared by the orientation.
        cube_front = (u.abs() <= 1) & (v >= 0) & (v <= 1.6)
        top_shift = 0.5 * turn
        cube_top = (v > 1.6) & (v <= 1.9) & ((u - top_shift * (v - 1.6) / 0.3).abs() <= 1)
        cube_shade = torch.where(cube_top, torch.full_like(u, 1.0), 0.75 - 0.15 * turn * u.sign())
        # Cylinder: body with horizontal cosine shading and an elliptical lid.
        lateral = torch.sqrt((1 - u.square()).clamp(min=0))
        cyl_body = (u.abs() <= 1) & (v >= 0) & (v <= 1.6)
        cyl_lid = u.square() + ((v - 1.6) / 0.3).square() <= 1
        cyl_shade = torch.where(
            cyl_lid & (v > 1.6 - 0.3 * lateral), torch.full_like(u, 1.0), 0.45 + 0.5 * lateral * (0.8 - 0.3 * u)
        )
        # Sphere: disc with radial shading, light from the upper left.
        sv = v - 1.0
        sphere = u.square() + sv.square() <= 1
        normal_z = torch.sqrt((1 - u.square() - sv.square()).clamp(min=0))
        sphere_shade = (0.35 + 0.65 * (0.55 * normal_z - 0.45 * u + 0.45 * sv).clamp(0, 1)).clamp(0, 1)
        # Capsule: a vertical pill, tilted by the orientation.
        cu = u - 0.25 * turn * (v - 1.3)
        core_v = (v - 1.3).clamp(-0.6, 0.6)
        capsule = (cu.square() + ((v - 1.3) - core_v).square() / 0.49) <= 0.49
        capsule_shade = 0.45 + 0.5 * torch.sqrt((1 - (cu / 0.7).square()).clamp(min=0))

        masks = torch.stack([cube_front | cube_top, cyl_body | cyl_lid, sphere, capsule])
        shades = torch.stack([cube_shade, cyl_shade, sphere_shade, capsule_shade])
        pick = shape.long().unsqueeze(0)  # (1, n, 1, 1)
        in_object = torch.gather(masks, 0, pick.expand(1, *masks.shape[1:])).squeeze(0)
        object_shade = torch.gather(shades, 0, pick.expand(1, *shades.shape[1:])).squeeze(0)

        background = torch.where(
            is_floor.unsqueeze(-1), floor_rgb * floor_shade.unsqueeze(-1), wall_rgb * wall_shade.unsqueeze(-1)
        )
        image = torch.where(in_object.unsqueeze(-1), object_rgb * object_shade.unsqueeze(-1), background)
        return F.avg_pool2d(image.clamp(0, 1).permute(0, 3, 1, 2), _SUPERSAMPLE)
