"""Test clips whose colour and motion are known: a camera panning and zooming over a picture, a face moving
across a still scene, and shots joined by a hard cut. Each clip holds its frames (the ground truth) and, for every
frame after a shot's first, the exact flow back to the previous frame with the pixels it is defined for, so the
temporal warp error needs no estimated flow. For eval_video.py, bench.py and the tests; `write_video` makes a
file of one, with a tone as its audio track."""
from typing import NamedTuple

import cv2
import numpy as np

FRAME = (360, 640)  # height, width
FPS = 25


class Clip(NamedTuple):
    frames: list  # RGB uint8 frames, the ground truth
    back: list  # per frame: None at a shot's start, else (flow (H,W,2) to the previous frame, valid mask (H,W))


def camera_move(picture, count, frame=FRAME, zoom=(1.0, 1.25), travel=(0.2, 0.1)):
    """The picture seen through a camera that pans by `travel` (of the picture's width, height) and zooms from
    `zoom[0]` to `zoom[1]` over `count` frames."""
    H, W = frame
    ph, pw = picture.shape[:2]
    base = min(pw / W, ph / H) / max(zoom) / (1 + max(travel))  # source pixels per frame pixel at zoom 1
    centres, scales = [], []
    for t in np.linspace(0, 1, count):
        scales.append(base / (zoom[0] + (zoom[1] - zoom[0]) * t))
        centres.append((pw / 2 + (t - 0.5) * travel[0] * pw, ph / 2 + (t - 0.5) * travel[1] * ph))
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    frames, back = [], []
    for i, (scale, (cx, cy)) in enumerate(zip(scales, centres)):
        map_x = ((xs - W / 2) * scale + cx).astype(np.float32)
        map_y = ((ys - H / 2) * scale + cy).astype(np.float32)
        frames.append(cv2.remap(picture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
        if i == 0:
            back.append(None)
            continue
        px = (map_x - centres[i - 1][0]) / scales[i - 1] + W / 2  # where this frame's pixel was in the last one
        py = (map_y - centres[i - 1][1]) / scales[i - 1] + H / 2
        valid = (px >= 0) & (px <= W - 1) & (py >= 0) & (py <= H - 1)
        back.append((np.dstack([px - xs, py - ys]).astype(np.float32), valid))
    return Clip(frames, back)


def moving_face(scene, face, count, frame=FRAME, side=150):
    """`face` (a face crop) `side` pixels wide moving left to right across a still `scene`."""
    H, W = frame
    background = cv2.resize(scene, (W, H), interpolation=cv2.INTER_AREA)
    patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    y = (H - side) // 2
    xs = np.linspace(20, W - side - 20, count).round().astype(int)
    frames, back = [], []
    for i, x in enumerate(xs):
        picture = background.copy()
        picture[y:y + side, x:x + side] = patch
        frames.append(picture)
        if i == 0:
            back.append(None)
            continue
        flow, valid = np.zeros((H, W, 2), np.float32), np.ones((H, W), bool)
        valid[y:y + side, xs[i - 1]:xs[i - 1] + side] = False  # background the face uncovers, or covered last frame
        flow[y:y + side, x:x + side, 0] = xs[i - 1] - x
        valid[y:y + side, x:x + side] = True  # the face itself moved as a whole
        back.append((flow, valid))
    return Clip(frames, back)


def joined(*clips):
    """Shots one after another: a hard cut between each, across which nothing flows."""
    return Clip([f for c in clips for f in c.frames], [b for c in clips for b in c.back])


def write_video(path, frames, fps=FPS, tone=True):
    """The frames as an H.264 file (4:4:4, nearly lossless), with a 440 Hz AAC tone as long as the clip."""
    import av

    with av.open(str(path), "w") as sink:
        video = sink.add_stream("libx264", rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt, video.options = "yuv444p", {"crf": "4", "preset": "veryfast"}
        audio = sink.add_stream("aac", rate=44100, layout="mono") if tone else None
        for frame in frames:
            sink.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        sink.mux(video.encode())
        if audio is not None:
            samples = np.sin(2 * np.pi * 440 * np.arange(int(44100 * len(frames) / fps)) / 44100).astype(np.float32)
            for start in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 44100, start
                sink.mux(audio.encode(chunk))
            sink.mux(audio.encode())
