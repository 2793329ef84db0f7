"""Scores of colorized images against the originals, all computed from 8-bit RGB as written to disk."""
import numpy as np
from skimage.color import deltaE_ciede2000
from skimage.metrics import structural_similarity

from .color import rgb_to_lab

AUC_THRESHOLDS = np.arange(0, 151)  # ab distances, as in Zhang, Isola & Efros (2016)


def colourfulness(rgb):
    """Hasler & Suesstrunk (2003) on 0..255 RGB; 0 for any gray image."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def ab_squared_error(pred_lab, true_lab):
    """Mean over pixels and both channels of the squared ab error, in raw ab units."""
    return float(np.mean((pred_lab[..., 1:] - true_lab[..., 1:]) ** 2))


def ab_mse(pred, truth):
    """`ab_squared_error` of two 8-bit RGB pictures."""
    return ab_squared_error(rgb_to_lab(pred), rgb_to_lab(truth))


def ab_auc(pred_lab, true_lab):
    """Area under the curve of 'fraction of pixels within ab distance t', t = 0..150, scaled to [0, 1]."""
    dist = np.linalg.norm(pred_lab[..., 1:] - true_lab[..., 1:], axis=-1).ravel()
    within = np.searchsorted(np.sort(dist), AUC_THRESHOLDS, side="right") / dist.size
    return float(np.trapezoid(within, AUC_THRESHOLDS) / (AUC_THRESHOLDS[-1] - AUC_THRESHOLDS[0]))


def psnr(pred_rgb, true_rgb):
    """PSNR in dB on 0..255 RGB, 100 dB for identical images rather than infinity."""
    mse = np.mean((pred_rgb.astype(np.float64) - true_rgb) ** 2)
    return 100.0 if mse == 0 else float(min(100.0, 10 * np.log10(255.0**2 / mse)))


# Each metric of a pair, from the 8-bit RGB pictures (pred, true) and their LAB (pred_lab, true_lab).
METRICS = {
    "mse_ab": lambda pred, true, pred_lab, true_lab: ab_squared_error(pred_lab, true_lab),
    "psnr": lambda pred, true, pred_lab, true_lab: psnr(pred, true),
    "ssim": lambda pred, true, pred_lab, true_lab: float(structural_similarity(true, pred, channel_axis=2,
                                                                              data_range=255)),
    "ciede2000": lambda pred, true, pred_lab, true_lab: float(deltaE_ciede2000(true_lab, pred_lab).mean()),
    "auc": lambda pred, true, pred_lab, true_lab: ab_auc(pred_lab, true_lab),
    "colourfulness": lambda pred, true, pred_lab, true_lab: colourfulness(pred),
    "colourfulness_truth": lambda pred, true, pred_lab, true_lab: colourfulness(true),
}


def score_pair(pred_rgb, true_rgb, metrics=tuple(METRICS)):
    pred_lab, true_lab = rgb_to_lab(pred_rgb), rgb_to_lab(true_rgb)
    return {k: METRICS[k](pred_rgb, true_rgb, pred_lab, true_lab) for k in metrics}


def score_pictures(preds, truths, metrics=tuple(METRICS)):
    """`metrics` (default: every one) of every pair of same-sized uint8 RGB pictures: {metric: array over
    pictures}. SSIM and CIEDE2000 are most of the time, so a caller that reports fewer asks for fewer."""
    scores = [score_pair(p, t, metrics) for p, t in zip(preds, truths, strict=True)]
    return {k: np.array([s[k] for s in scores]) for k in metrics}


RESAMPLES = 2000


def bootstrap(values, resamples=RESAMPLES, seed=0, level=0.95):
    """Percentile bootstrap interval of the mean of per-picture values: resample the pictures with
    replacement `resamples` times (seeded, so an interval is reproducible) and take the middle `level`
    of the resampled means. Applied to per-picture differences of two models, it is the paired test."""
    values = np.asarray(values, dtype=np.float64)
    picks = np.random.default_rng(seed).integers(0, len(values), (resamples, len(values)))
    low, high = np.percentile(values[picks].mean(axis=1), [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def summarize(per_picture):
    """Means and their 95% bootstrap intervals: ({metric: mean}, {metric: [low, high]})."""
    return ({k: float(v.mean()) for k, v in per_picture.items()},
            {k: list(bootstrap(v)) for k, v in per_picture.items()})


def compare(per_picture_a, per_picture_b):
    """Paired comparison on the same pictures, per metric: mean of (a - b) and its 95% interval."""
    return {k: {"difference": float((per_picture_a[k] - per_picture_b[k]).mean()),
                "ci95": list(bootstrap(per_picture_a[k] - per_picture_b[k]))} for k in per_picture_a}


def mean_ab_baseline(train_images, test_images):
    """Scores of always answering the training set's mean chroma: the bar any model must beat."""
    import torch

    from .color import image_ab

    mean = image_ab(train_images).mean(dim=(0, 2, 3))
    test_ab = image_ab(test_images)
    return {
        "baseline_mean_ab_mse": float(((test_ab.mean(dim=(2, 3)) - mean) ** 2).mean()),
        "baseline_mse_ab": float(((test_ab - mean[None, :, None, None]) ** 2).mean()),
        "train_mean_ab": [float(v) for v in torch.as_tensor(mean)],
    }


def warp_error(previous, current, back):
    """The temporal warp error of Lai et al. (2018) between two consecutive frames (RGB uint8): the squared
    RGB distance (0..1 scale, summed over channels) between a frame and the previous one warped along the true
    flow `back` ((flow to the previous frame, valid mask)), averaged over the pixels where that flow holds."""
    import cv2

    flow, valid = back
    ys, xs = np.mgrid[0:valid.shape[0], 0:valid.shape[1]].astype(np.float32)
    warped = cv2.remap(previous.astype(np.float32) / 255, (xs + flow[..., 0]).astype(np.float32),
                       (ys + flow[..., 1]).astype(np.float32), cv2.INTER_LINEAR)
    distance = ((current.astype(np.float32) / 255 - warped) ** 2).sum(axis=2)
    return float(distance[valid].mean())


def colour_distribution_consistency(frames, gaps=(1, 2, 4)):
    """CDC, as ColorMNet (after BiSTNet) reports it: the Jensen-Shannon divergence between the 256-bin
    histograms of each RGB channel of frames `gap` apart, averaged over the channels, the frames and the gaps.
    0 for a clip whose colours never change."""
    hists = [[np.bincount(f[..., c].ravel(), minlength=256) / f[..., 0].size for c in range(3)] for f in frames]

    def js(p, q):
        m = (p + q) / 2
        kl = lambda a: float(np.sum(a[a > 0] * np.log(a[a > 0] / m[a > 0])))  # noqa: E731
        return (kl(p) + kl(q)) / 2

    per_gap = [np.mean([js(p, q) for t in range(len(frames) - gap) for p, q in zip(hists[t], hists[t + gap])])
               for gap in gaps if gap < len(frames)]
    return float(np.mean(per_gap))
