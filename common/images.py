"""Users' picture files as arrays: decoded as stored (any depth, gray, RGB or RGBA), turned upright by their
EXIF orientation, refused by size from the header before decoding, and every way a file can be wrong as one
ImageError that names it. colorize.py, the page, the evaluation and training all read pictures through here."""
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .cli import UserError

GRAY_TOLERANCE = 2  # JPEG noise can leave a gray photo's channels a level or two apart

_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> (np.rot90 turns counter-clockwise, mirror left-right afterwards)
_ORIENT = {2: (0, True), 3: (2, False), 4: (2, True), 5: (3, True), 6: (3, False), 7: (1, True), 8: (1, False)}


class ImageError(UserError):
    """A file that cannot be used as an image; the message names it and says why."""


def image_size(path):
    """(width, height) from the header alone, so huge files can be refused before decoding. PIL's own
    decompression-bomb check is off for this read (PIL never decodes pixels here; --max-pixels is the
    guard), or a huge header would hide the very size that guard needs."""
    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # damaged headers are reported by read_image, once
            with Image.open(path) as im:
                return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _exif_orientation(path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not cost the user the picture
        return 1


def read_image(path):
    """Decode a file as stored: HxW gray or HxWx3 RGB or HxWx4 RGBA, uint8 or uint16, EXIF-upright.

    Raises ImageError naming the file for anything that is not a decodable image.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # np.fromfile copes with any file name
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e.strerror or e})") from e
    if data.size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise ImageError(f"{path}: not a readable image ({str(e).strip().splitlines()[-1]})") from e
    if img is None or img.size == 0:
        raise ImageError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    if img.dtype not in (np.uint8, np.uint16):
        img = np.clip(img.astype(np.float64), 0, 1) * 65535 if img.dtype.kind == "f" else img
        img = img.astype(np.uint16)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        if img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
        else:
            raise ImageError(f"{path}: {img.shape[2]}-channel images are not supported")
    turns, mirror = _ORIENT.get(_exif_orientation(path), (0, False))
    if turns:
        img = np.rot90(img, turns)
    if mirror:
        img = img[:, ::-1]
    return np.ascontiguousarray(img)


def to_rgb8(img):
    """Any decoded image -> HxWx3 uint8 RGB (16-bit scaled down, alpha dropped, gray repeated)."""
    if img.dtype == np.uint16:
        img = np.rint(img / 257.0).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def upsample(channel, shape):
    """A network's low-resolution channel at a picture's size (bilinear): every output and map takes this road."""
    return cv2.resize(channel, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def channel_spread(rgb):
    """Per pixel, how far apart an RGB pixel's channels are: 0 for gray."""
    return rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)


def is_grayscale(rgb):
    return int(channel_spread(rgb).max()) <= GRAY_TOLERANCE


def read_photo(path, max_pixels):
    """A photo decoded, or ImageError naming it; the size is checked from the header before decoding."""
    size = image_size(path)
    if size and size[0] * size[1] > max_pixels:
        raise ImageError(f"{path}: {size[0]}x{size[1]} is {size[0] * size[1] / 1e6:.0f} MP, above --max-pixels "
                         f"{max_pixels / 1e6:.0f} MP; raise the limit if you trust the file")
    img = read_image(path)
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageError(f"{path}: {img.shape[1]}x{img.shape[0]} is above --max-pixels; raise the limit if you "
                         "trust the file")
    return img
