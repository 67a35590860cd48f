"""Safe decoding of uploads (formats, modes, EXIF, refusals with their HTTP statuses)
and PNG encoding / tiling of model outputs."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from latentatlas.imaging import tile_grid, to_data_url, to_png
from latentatlas.serve.images import ImageInputError, decode_upload

MAX_PIXELS = 4_000_000
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _decode(data: bytes, channels: int = 3, size: int = 16, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    return decode_upload(data, channels, size, max_pixels)


def _refused(data: bytes, **kwargs) -> ImageInputError:
    with pytest.raises(ImageInputError) as error:
        _decode(data, **kwargs)
    return error.value


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height RGB pixels, followed by a scrap of (truncated) data."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + struct.pack(">I", 1 << 20) + b"IDAT" + zlib.compress(b"\x00" * 64)[:20]


def _colour(tensor: torch.Tensor) -> list[float]:
    return tensor.mean(dim=(-1, -2)).flatten().tolist()


# -- formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_accepted_formats_decode_to_the_model_geometry(fmt, image_bytes, photo):
    data = image_bytes(photo[::4, ::4], fmt)  # a real photograph, 128x128
    rgb = _decode(data, channels=3, size=32)
    assert rgb.shape == (1, 3, 32, 32) and rgb.dtype == torch.float32
    assert rgb.min() >= 0 and rgb.max() <= 1 and rgb.is_contiguous()
    grey = _decode(data, channels=1, size=16)
    assert grey.shape == (1, 1, 16, 16)
    assert rgb.std() > 0.05  # a photo, not a flat image


def test_png_decodes_exactly(image_bytes):
    array = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    decoded = _decode(image_bytes(array, "PNG"), size=16)  # already square at the size: no resampling
    np.testing.assert_allclose(decoded[0].permute(1, 2, 0).numpy() * 255, array, atol=1e-3)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_flat_colours_survive_every_format(fmt, image_bytes):
    decoded = _decode(
        image_bytes(
            Image.new("RGB", (40, 30), (200, 40, 90)), fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {})
        )
    )
    np.testing.assert_allclose(_colour(decoded[0]), np.array([200, 40, 90]) / 255, atol=0.04)


def test_animated_gif_contributes_its_first_frame(image_bytes):
    frames = [Image.new("RGB", (20, 20), RED), Image.new("RGB", (20, 20), BLUE)]
    data = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as check:
        assert check.n_frames == 2
    np.testing.assert_allclose(_colour(_decode(data)[0]), [1.0, 0.0, 0.0], atol=0.02)


def test_one_channel_models_get_luma(image_bytes):
    decoded = _decode(image_bytes(Image.new("RGB", (20, 20), (255, 0, 0)), "PNG"), channels=1)
    assert decoded.shape == (1, 1, 16, 16)
    # ITU-R 601 luma, as Pillow's convert("L"): 299/1000 of red.
    torch.testing.assert_close(decoded, torch.full_like(decoded, round(255 * 0.299) / 255), rtol=0, atol=1 / 255)


def test_greyscale_uploads_fill_every_channel_for_colour_models(image_bytes):
    decoded = _decode(image_bytes(Image.new("L", (20, 20), 100), "PNG"), channels=3)
    torch.testing.assert_close(decoded, torch.full_like(decoded, 100 / 255))


@pytest.mark.parametrize(("alpha", "expected"), [(0, 0.0), (255, 1.0), (128, 128 / 255)])
def test_transparency_is_composited_on_black(alpha, expected, image_bytes):
    data = image_bytes(Image.new("RGBA", (20, 20), (255, 255, 255, alpha)), "PNG")
    decoded = _decode(data)
    torch.testing.assert_close(decoded, torch.full_like(decoded, expected), rtol=0, atol=1 / 255)


def test_transparent_palette_and_la_images_are_composited_on_black(image_bytes):
    la = image_bytes(Image.new("LA", (20, 20), (255, 0)), "PNG")
    assert _decode(la).max() == 0
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([255, 255, 255, 0, 255, 0] + [0] * 762)
    gif = image_bytes(palette, "GIF", transparency=1)  # every pixel is the transparent index
    assert _decode(gif).max() == 0
    opaque = image_bytes(palette, "GIF")
    np.testing.assert_allclose(_colour(_decode(opaque)[0]), [0.0, 1.0, 0.0], atol=0.01)


def test_exif_orientation_is_honoured(image_bytes):
    # Stored: red top half, blue bottom half; orientation 6 = display rotated 90 deg clockwise,
    # so the viewer sees blue on the left and red on the right.
    array = np.zeros((32, 32, 3), dtype=np.uint8)
    array[:16], array[16:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = _decode(image_bytes(array, "JPEG", quality=95, exif=exif), size=32)[0]
    left, right = _colour(decoded[:, :, :12]), _colour(decoded[:, :, -12:])
    assert left[2] > 0.8 and left[0] < 0.2, left
    assert right[0] > 0.8 and right[2] < 0.2, right
    # Without the tag the same pixels decode as stored.
    plain = _decode(image_bytes(array, "JPEG", quality=95), size=32)[0]
    assert _colour(plain[:, :12])[0] > 0.8 and _colour(plain[:, -12:])[2] > 0.8


def test_non_square_uploads_are_centre_cropped(image_bytes):
    array = np.zeros((20, 60, 3), dtype=np.uint8)
    array[:, :20], array[:, 20:40], array[:, 40:] = RED, (0, 255, 0), BLUE
    decoded = _decode(image_bytes(array, "PNG"))
    torch.testing.assert_close(
        decoded[0], torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1).expand(3, 16, 16), rtol=0, atol=1 / 255
    )


# -- refusals ---------------------------------------------------------------------------


def test_empty_upload_is_422():
    error = _refused(b"")
    assert error.status_code == 422 and "empty" in str(error)


@pytest.mark.parametrize("data", [b"hello, world" * 20, b"%PDF-1.4 not an image", b"\x00" * 100])
def test_non_images_are_415(data):
    error = _refused(data)
    assert error.status_code == 415 and "PNG" in str(error)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PPM"])
def test_other_image_formats_are_415(fmt, image_bytes):
    """Only PNG, JPEG, WebP and GIF are ever parsed."""
    error = _refused(image_bytes(Image.new("RGB", (8, 8)), fmt))
    assert error.status_code == 415


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_images_are_422(fmt, image_bytes):
    array = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = image_bytes(array, fmt)
    error = _refused(data[: len(data) // 2])
    assert error.status_code == 422 and "truncated" in str(error)


def test_too_many_pixels_is_413_before_decoding(image_bytes):
    # A real, tiny file (a flat 300x300 PNG is a few hundred bytes) over a small pixel limit.
    data = image_bytes(Image.new("L", (300, 300)), "PNG")
    assert len(data) < 2000
    error = _refused(data, max_pixels=200 * 200)
    assert error.status_code == 413 and "pixels" in str(error)
    assert _decode(data, max_pixels=300 * 300).shape == (1, 3, 16, 16)  # at the limit: fine


@pytest.mark.parametrize(("width", "height"), [(3000, 3000), (100_000, 100_000)])
def test_bomb_header_is_refused_from_the_header_alone(width, height):
    """The header claims too many pixels and the data is truncated: the size check must come first
    (413), or the decoder would have started on the pixels (422)."""
    data = _png_claiming(width, height)
    assert len(data) < 100
    with Image.open(io.BytesIO(_png_claiming(30, 30))) as small:  # the same construction is an image ...
        assert small.size == (30, 30)
    assert _refused(_png_claiming(30, 30)).status_code == 422  # ... a truncated one when small enough
    error = _refused(data)
    assert error.status_code == 413, str(error)
    assert "pixels" in str(error)


def test_image_input_error_carries_its_status():
    error = ImageInputError(413, "too big")
    assert isinstance(error, ValueError) and error.status_code == 413 and str(error) == "too big"


# -- encoding outputs -------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB")])
def test_to_png_round_trips_pixels(channels, mode):
    image = torch.rand(channels, 12, 20, generator=torch.Generator().manual_seed(2))
    png = to_png(image)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as decoded:
        assert decoded.mode == mode and decoded.size == (20, 12)
        pixels = np.asarray(decoded).reshape(12, 20, channels)
    expected = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(pixels, expected)


def test_to_png_clamps_and_replaces_nan():
    image = torch.tensor([[[float("nan"), -1.0, 2.0, 0.5]]])
    with Image.open(io.BytesIO(to_png(image))) as decoded:
        assert np.asarray(decoded).tolist() == [[0, 0, 255, 128]]


def test_to_data_url_is_base64_png():
    png = to_png(torch.zeros(1, 4, 4))
    url = to_data_url(png)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png


@pytest.mark.parametrize(("rows", "cols", "channels"), [(1, 1, 1), (2, 3, 3), (4, 1, 1)])
def test_tile_grid_places_tiles_row_major(rows, cols, channels):
    h, w = 5, 7
    images = torch.rand(rows * cols, channels, h, w, generator=torch.Generator().manual_seed(3))
    grid = tile_grid(images, rows, cols)
    assert grid.shape == (channels, rows * h, cols * w)
    for r in range(rows):
        for c in range(cols):
            assert torch.equal(grid[:, r * h : (r + 1) * h, c * w : (c + 1) * w], images[r * cols + c])


# -- memory bounds -------------------------------------------------------------------------------


def _png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_small_png_declaring_many_pixels_is_refused_before_decoding():
    """The amplification case: a PNG of a few hundred KB that decodes to ~40 megapixels."""
    data = _png_bytes(6300, 6300)
    assert len(data) < 400_000
    with pytest.raises(ImageInputError) as refused:
        decode_upload(data, 3, 64, max_pixels=40_000_000, max_decoded_pixels=16_000_000)
    assert refused.value.status_code == 413 and "decoded at full size" in str(refused.value)


def test_a_large_jpeg_is_decoded_shrunk(monkeypatch):
    """JPEG under the header limit decodes at 1/8 scale (draft), so it is accepted and cheap."""
    buffer = io.BytesIO()
    Image.new("RGB", (4800, 3600), (200, 40, 40)).save(buffer, format="JPEG", quality=80)
    from PIL import JpegImagePlugin

    decoded_sizes = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = real_draft(self, mode, size)
        decoded_sizes.append(self.size)  # what the decoder will produce
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    out = decode_upload(buffer.getvalue(), 3, 64, max_pixels=40_000_000, max_decoded_pixels=16_000_000)
    assert decoded_sizes == [(600, 450)]  # 1/8 of 4800 x 3600, still >= 2 x 64
    assert out.shape == (1, 3, 64, 64)
    assert torch.allclose(out[0, :, 32, 32], torch.tensor([200, 40, 40]) / 255, atol=0.05)


def test_shrinking_after_decoding_keeps_the_picture():
    """Reducing a large upload by an integer factor first gives (nearly) the same 64x64 image."""
    rng = np.random.default_rng(0)
    big = Image.fromarray(
        np.kron(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), np.ones((80, 80, 1), dtype=np.uint8))
    )
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    out = decode_upload(buffer.getvalue(), 3, 64, max_pixels=40_000_000)
    direct = np.asarray(big.resize((64, 64), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    assert np.abs(out[0].permute(1, 2, 0).numpy() - direct).mean() < 0.02


def test_a_large_webp_is_refused_at_a_quarter_of_the_full_decode_limit(image_bytes):
    """WebP costs ~4x a PNG's memory per pixel to decode (a 4000 x 4000 one: +244 MB), so its
    full-decode limit is a quarter of ``max_decoded_pixels``; just under it, it decodes."""
    flat = Image.new("RGB", (2000, 2000), (30, 60, 90))
    limit = 2000 * 2000 * 4
    assert decode_upload(image_bytes(flat, "WEBP"), 3, 16, max_pixels=40_000_000, max_decoded_pixels=limit).shape == (
        1,
        3,
        16,
        16,
    )
    with pytest.raises(ImageInputError) as refused:
        decode_upload(
            image_bytes(flat.resize((2001, 2000)), "WEBP"), 3, 16, max_pixels=40_000_000, max_decoded_pixels=limit
        )
    assert refused.value.status_code == 413 and f"the limit is {limit // 4} pixels" in str(refused.value)


def test_a_header_over_pillows_own_limit_cites_the_apps_limit():
    error = _refused(_png_claiming(20_000, 20_000), max_pixels=30_000_000)
    assert error.status_code == 413 and "30000000" in str(error)
    assert str(Image.MAX_IMAGE_PIXELS) not in str(error) and str(2 * Image.MAX_IMAGE_PIXELS) not in str(error)


@pytest.mark.parametrize("size", [64, 16])
def test_16_bit_greyscale_png_is_scaled_to_8_bits_even_when_reduced(size):
    """Scientific 16-bit grey PNGs (Pillow mode I;16) large enough to be reduced after decoding are
    accepted, and their values scaled (not clipped) to 8 bits: v * 255 / 65535."""
    levels = np.kron(np.array([[0, 16384], [49152, 65535]], dtype=np.uint16), np.ones((256, 256), dtype=np.uint16))
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, format="PNG")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == "I;16"
    out = decode_upload(buffer.getvalue(), 1, size, max_pixels=40_000_000)
    assert out.shape == (1, 1, size, size)
    quarter = size // 4
    corners = [
        out[0, 0, quarter, quarter],
        out[0, 0, quarter, -quarter],
        out[0, 0, -quarter, quarter],
        out[0, 0, -quarter, -quarter],
    ]
    expected = [0, 16384 / 65535, 49152 / 65535, 1]
    assert [round(float(v), 2) for v in corners] == [round(v, 2) for v in expected]
    assert decode_upload(buffer.getvalue(), 3, size, max_pixels=40_000_000).shape == (1, 3, size, size)


@pytest.mark.parametrize("side", [14_000, 20_000])  # over Pillow's warning limit, and over twice it (its error)
def test_pillows_own_pixel_limit_is_never_quoted(side):
    """One pixel limit is quoted to users: the app's, even where Pillow's bomb check fires first."""
    assert side * side > Image.MAX_IMAGE_PIXELS
    error = _refused(_png_claiming(side, side), max_pixels=MAX_PIXELS)
    assert error.status_code == 413
    assert [int(n) for n in re.findall(r"\d{5,}", str(error))] == [MAX_PIXELS], str(error)
