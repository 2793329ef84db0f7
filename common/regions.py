"""The region protocol for colour hints: does a hint fill the object it is put on, and stop at its edge?

Each picture's ground truth is cut into regions (Felzenszwalb & Huttenlocher's graph segmentation, regions of at
least MIN_SHARE of the picture). One region at a time gets one hint, placed at its most interior pixel, in the
region's own mean colour turned TURN_DEGREES in hue (at least MIN_CHROMA of chroma, so every hint asks for a visible
change). A region that cannot show that colour gets none: near white or black, or where the turned hue leaves the
sRGB gamut at the region's lightness, any picture pulled into gamut keeps less than SHOWN of the hint's chroma, and
its hint would score as a failure of every method. Against the picture coloured without hints:

- leak: the share of the hint's colour change (ab distance, summed over pixels) that lands outside its region;
  0 is ideal, and a change spread evenly over the picture gives about 1 - the region's share;
- fill: the share of the region's pixels that moved at least halfway to the hint's colour (their ab distance to it
  halved or better).

Each figure is averaged over a picture's regions, then over pictures, with a bootstrap interval over pictures.
"""
import cv2
import numpy as np
from scipy import ndimage
from skimage.segmentation import felzenszwalb

from .color import rgb_to_lab
from .files import REPOSITORY, list_images
from .hints import Hints, point_box
from .images import read_image, to_rgb8
from .inference import colorize, fit_gamut
from .metrics import bootstrap

MIN_SHARE = 0.02  # regions smaller than this share of the picture get no hint
SEGMENT_SCALE = 200  # Felzenszwalb's scale at 128 px: about 5-15 regions on a face, more on a busy photo
TURN_DEGREES = 150
MIN_CHROMA = 20.0
SHOWN = 0.5  # share of the hint's chroma a region must be able to show at its median lightness
PHOTOS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry", "colorwheel")
PHOTO_SIDE = 256
OPENCV_PHOTOS = REPOSITORY / "data" / "opencv_photos"  # `make photos`; data/opencv_photos.sha256 lists them


def photos_that_are_not_faces(side=PHOTO_SIDE, opencv=OPENCV_PHOTOS):
    """The colour photos scikit-image ships that are not portraits (and the left view of its stereo motorcycle), the
    two scikit-learn ships (a temple, a flower) and, where `make photos` has fetched them, the 20 of OpenCV's sample
    pictures in `opencv`'s folder, at most `side` on their long side: the region protocol away from faces."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    pictures = [getattr(skimage.data, name)() for name in PHOTOS] + [skimage.data.stereo_motorcycle()[0]]
    pictures += load_sample_images().images
    if opencv.is_dir():
        pictures += [read_image(path) for path in list_images(opencv)]
    return [at_side(p, side) for p in pictures]


def at_side(picture, side=PHOTO_SIDE):
    """A picture as 8-bit RGB, `side` pixels on its long side: every photo of the protocol is scored at one size."""
    picture = to_rgb8(picture)
    scale = side / max(picture.shape[:2])
    return cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def regions_of(truth):
    """Label map of the truth's regions, and the labels big enough to get a hint."""
    side = max(truth.shape[:2])
    labels = felzenszwalb(truth, scale=SEGMENT_SCALE * side / 128, sigma=0.8,
                          min_size=int(MIN_SHARE * truth[..., 0].size))
    counts = np.bincount(labels.ravel())
    return labels, [label for label in range(len(counts)) if counts[label] >= MIN_SHARE * labels.size]


def hint_in(region, truth_ab, size):
    """The region's hint: at its most interior pixel, in its mean colour turned TURN_DEGREES (chroma at least
    MIN_CHROMA), over the photo pixels a typed hint covers; and that colour."""
    depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(np.argmax(depth), depth.shape)
    a, b = truth_ab[region].mean(axis=0)
    chroma, hue = max(MIN_CHROMA, float(np.hypot(a, b))), np.arctan2(b, a) + np.radians(TURN_DEGREES)
    colour = np.array([chroma * np.cos(hue), chroma * np.sin(hue)], np.float32)
    ys, xs = np.mgrid[point_box(x, y, region.shape, size)]
    return Hints(ys.ravel(), xs.ravel(), np.repeat(colour[None], ys.size, axis=0)), colour


def showable(L, colour):
    """Whether a region of lightness L (its pixels' L) can show at least SHOWN of the colour's chroma."""
    shown = fit_gamut(np.array([[np.median(L)]], np.float32), colour[None, None])[0, 0, 1:]
    return np.hypot(*shown) >= SHOWN * np.hypot(*colour)


def leak_and_fill(before, after, colour, region):
    """The two figures for one hint, from the pictures' ab (H,W,2) before and after it."""
    change = np.linalg.norm(after - before, axis=2)
    leak = float(change[~region].sum() / max(change.sum(), 1e-9))
    closer = np.linalg.norm(after - colour, axis=2) <= 0.5 * np.linalg.norm(before - colour, axis=2)
    return leak, float(closer[region].mean())


def picture_figures(model, truth, size, device):
    """(mean leak, mean fill, hints) of one picture's regions, each hinted alone."""
    lab = rgb_to_lab(truth)
    before = rgb_to_lab(colorize(model, [truth], size, device)[0].rgb)[..., 1:]  # from the truth's L alone
    labels, kept = regions_of(truth)
    figures = []
    for label in kept:
        region = labels == label
        hints, colour = hint_in(region, lab[..., 1:], size)
        if not showable(lab[..., 0][region], colour):
            continue
        after = rgb_to_lab(colorize(model, [truth], size, device, hints=[hints])[0].rgb)[..., 1:]
        figures.append(leak_and_fill(before, after, colour, region))
    leak, fill = np.mean(figures, axis=0) if figures else (np.nan, np.nan)
    return float(leak), float(fill), len(figures)


def region_table(model, pictures, size, device):
    """Leak and fill over `pictures` (HxWx3 uint8 truths): means and 95% intervals over the pictures."""
    rows = [picture_figures(model, truth, size, device) for truth in pictures]
    leak, fill = (np.array([r[i] for r in rows if r[2]]) for i in (0, 1))
    return {"pictures": len(leak), "hints": int(sum(r[2] for r in rows)), "leak": float(leak.mean()),
            "leak_ci95": list(bootstrap(leak)), "fill": float(fill.mean()), "fill_ci95": list(bootstrap(fill))}
