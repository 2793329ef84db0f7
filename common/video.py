"""Films: a clip read, colorized and written as a stream (memory does not grow with its length), its audio copied
packet for packet, and its colour carried from frame to frame along the optical flow of L so a shot stays steady.

Each frame goes the one road (`inference.colorize_later`) like a photo. Between its upsampled ab and the
composition with L, `Steady` mixes in the previous frame's colour warped along DIS optical flow (OpenCV) where the
flow is reliable (the forward-backward check of Sundaram, Brox & Keutzer 2010), and starts afresh at a cut; a pixel
that L shows still is taken as still, whatever the flow spilled onto it from a moving neighbour. Hint
points given on one frame move with the flow through the rest of its shot, and so do the faces between
detections, so face-aware colour glides with a face instead of jumping with the detector's box.
"""
import os
from fractions import Fraction

import cv2
import numpy as np

from .color import gray8
from .faces import find_faces
from .hints import Hints
from .images import ImageError
from .inference import colorize_later, lightness

FLOW_WIDTH = 320  # flow is computed on L at most this wide, then scaled up
CARRY = 0.8  # share of the carried colour where the flow is reliable; the frame's own prediction has the rest
FB_ALPHA, FB_BETA = 0.01, 0.5  # reliable where |f(x + b) + b|^2 < alpha (|f|^2 + |b|^2) + beta, in flow pixels
HISTOGRAM_CUT = 0.3  # Bhattacharyya distance of consecutive frames' L histograms that marks a cut...
MIN_RELIABLE = 0.2  # ...as does a flow reliable on less than this share of the frame
STILL_BOX = 3  # side of the box at flow size over which L differences decide whether a pixel is still
DETECT_EVERY = 8  # frames between face detections within a shot; the flow moves the faces in between
FACE_KEEP = 2  # detections a face may be missed by and keep its place


def small_gray(L):
    """8-bit L at most FLOW_WIDTH wide: what the flow and the cut detector look at."""
    width = min(FLOW_WIDTH, L.shape[1])
    height = max(1, round(L.shape[0] * width / L.shape[1]))
    return cv2.resize(gray8(L), (width, height), interpolation=cv2.INTER_AREA)


def is_cut(previous, current):
    """A new shot: the two frames' distributions of L differ more than a camera move can make them."""
    hists = [cv2.calcHist([g], [0], None, [64], [0, 256]) for g in (previous, current)]
    return cv2.compareHist(*hists, cv2.HISTCMP_BHATTACHARYYA) > HISTOGRAM_CUT


def grid(shape):
    return np.meshgrid(np.arange(shape[1], dtype=np.float32), np.arange(shape[0], dtype=np.float32))


def settle(flow, source, target):
    """`flow` (from `source` to `target`, 8-bit L at flow size) set to 0 where the pixel unmoved explains `target`
    as well as the flow does. The flow spills a moving object's motion some 20 pixels into a plain still
    background, and colour carried along it drags a halo with the object; a still pixel keeps its own colour."""
    gx, gy = grid(flow.shape)
    warped = cv2.remap(target, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved, unmoved = (cv2.blur(cv2.absdiff(x, source).astype(np.float32), (STILL_BOX, STILL_BOX))
                      for x in (warped, target))
    flow[unmoved <= moved] = 0
    return flow


def reliable(backward, forward):
    """Where the flow from the current frame back to the previous one (`backward`) is confirmed by the forward
    flow at the place it leads to; a place outside the previous frame is never confirmed."""
    gx, gy = grid(backward.shape)
    there = cv2.remap(forward, gx + backward[..., 0], gy + backward[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=(1e4, 1e4))
    mismatch = ((there + backward) ** 2).sum(axis=2)
    return mismatch < FB_ALPHA * ((there ** 2).sum(axis=2) + (backward ** 2).sum(axis=2)) + FB_BETA


class Steady:
    """The flow between consecutive frames, and the colour carried along it: call `advance` with each frame's L
    before it is predicted, and pass the object as `carry` when its picture is rendered."""

    def __init__(self, carry=CARRY):
        self.share, self.dis = carry, cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.small = self.ab = None  # the previous frame's L at flow size, and its colour
        self.motion = self.forward = None  # this frame's way back (full size) and the flow that led here

    def advance(self, L):
        """Look at the next frame's L; True where it starts a shot (the first frame, or a cut)."""
        small, previous = small_gray(L), self.small
        self.small, self.motion, self.forward = small, None, None
        if previous is None or previous.shape != small.shape or is_cut(previous, small):
            return True
        backward = self.dis.calc(small, previous, None)
        forward = self.dis.calc(previous, small, None)
        ok = reliable(backward, forward)
        if ok.mean() < MIN_RELIABLE:
            return True
        backward, forward = settle(backward, small, previous), settle(forward, previous, small)
        scale = L.shape[1] / small.shape[1]
        gx, gy = grid(L.shape)
        way_back = cv2.resize(backward, (L.shape[1], L.shape[0]), interpolation=cv2.INTER_LINEAR) * scale
        weight = cv2.resize(ok.astype(np.float32), (L.shape[1], L.shape[0]), interpolation=cv2.INTER_LINEAR)
        self.motion, self.forward = (gx + way_back[..., 0], gy + way_back[..., 1], self.share * weight), forward
        return False

    def __call__(self, L, a, b):
        """This frame's ab with the previous frame's carried in where the flow holds (`render`'s `carry`)."""
        if self.motion is not None:
            map_x, map_y, weight = self.motion
            a, b = (weight * cv2.remap(old, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    + (1 - weight) * new for old, new in zip(self.ab, (a, b)))
        self.ab = (a, b)
        return a, b

    def move(self, points, shape):
        """`points` (pixels and their ab) of the previous frame where the flow takes them in this one (a frame of
        `shape`); those that leave it are dropped."""
        scale = shape[1] / self.forward.shape[1]
        rows = np.clip((points.ys / scale).astype(int), 0, self.forward.shape[0] - 1)
        cols = np.clip((points.xs / scale).astype(int), 0, self.forward.shape[1] - 1)
        step = self.forward[rows, cols] * scale
        ys, xs = np.rint(points.ys + step[:, 1]).astype(np.int64), np.rint(points.xs + step[:, 0]).astype(np.int64)
        inside = (ys >= 0) & (ys < shape[0]) & (xs >= 0) & (xs < shape[1])
        return Hints(ys[inside], xs[inside], points.ab[inside])

    def shift(self, square, shape):
        """A face's crop square (x, y, side) moved by the median flow inside it."""
        x, y, side = square
        scale = shape[1] / self.forward.shape[1]
        box = self.forward[max(0, int(y / scale)):max(1, int((y + side) / scale)),
                           max(0, int(x / scale)):max(1, int((x + side) / scale))].reshape(-1, 2)
        dx, dy = (np.median(box, axis=0) * scale) if len(box) else (0.0, 0.0)
        return x + float(dx), y + float(dy), side


def overlaps(a, b):
    """Whether two squares (x, y, side) share more than half of the smaller one."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1])
    return w > 0 and h > 0 and w * h > 0.5 * min(a[2], b[2]) ** 2


class FaceTrack:
    """The faces of each frame: found by the detector at a shot's start and every DETECT_EVERY frames, moved with
    the flow in between, so a face's crop glides with it instead of jumping with the detector's box; a face the
    detector then misses keeps its place for FACE_KEEP more detections."""

    def __init__(self, settings):
        self.settings, self.kept, self.since = settings, [], 0  # (crop squares, detections missed), frames since

    def __call__(self, L, steady):
        if steady.forward is None:
            self.kept, self.since = [], 0
        elif self.since < DETECT_EVERY:
            self.since += 1
            self.kept = [([steady.shift(square, L.shape) for square in face], missed) for face, missed in self.kept]
            return [face for face, _ in self.kept]
        found = find_faces(L, *self.settings)
        moved = [([steady.shift(square, L.shape) for square in face], missed + 1) for face, missed in self.kept
                 if missed < FACE_KEEP and not any(overlaps(face[0], other[0]) for other in found)]
        self.kept, self.since = [(face, 0) for face in found] + moved, 0
        return [face for face, _ in self.kept]


class FilmColour:
    """One clip's colour, frame after frame: each frame by the one road, its colour carried along the flow
    (`steady`; off, every frame is coloured on its own, faces and all, and no flow is worked out unless hints
    must move), `hints` of frame `hint_frame` moving with the flow to the end of their shot."""

    def __init__(self, model, size, device, faces=None, hints=None, hint_frame=0, steady=True, temperature=None,
                 carry=CARRY):
        self.model, self.size, self.device, self.temperature = model, size, device, temperature
        self.faces, self.track = faces, FaceTrack(faces) if faces and steady else None
        self.hints, self.hint_frame, self.steady = hints, hint_frame, steady
        self.flow, self.points, self.index = Steady(carry), None, 0

    def __call__(self, rgb):
        L = lightness(rgb)
        new_shot = self.flow.advance(L) if self.steady or self.hints is not None else True
        if self.index == self.hint_frame and self.hints is not None:
            self.points = self.hints
        elif self.points is not None:
            self.points = None if new_shot else self.flow.move(self.points, L.shape)
        hinted = self.points is not None and len(self.points) > 0
        found = [self.track(L, self.flow)] if self.track and not hinted else None
        pictures = colorize_later(self.model, [rgb], self.size, self.device, faces=self.faces,
                                  hints=[self.points] if hinted else None, found=found, temperature=self.temperature)
        self.index += 1
        return pictures(carry=self.flow if self.steady else None)[0].rgb


def video_stream(sink, source):
    """An H.264 stream for `source`'s frames at its size and frame rate (4:4:4 where a side is odd)."""
    stream = sink.add_stream("libx264", rate=source.average_rate or source.guessed_rate or Fraction(25))
    stream.width, stream.height = source.codec_context.width, source.codec_context.height
    stream.pix_fmt = "yuv420p" if stream.width % 2 == 0 and stream.height % 2 == 0 else "yuv444p"
    stream.options = {"crf": "18", "preset": "veryfast"}
    return stream


def colour_frame(frame, colour):
    import av

    out = av.VideoFrame.from_ndarray(colour(frame.to_ndarray(format="rgb24")), format="rgb24")
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def copy_clip(source, sink, colour, progress):
    """Every video frame of `source` coloured into `sink`, every audio packet copied as it is."""
    video = source.streams.video[0]
    encoder = video_stream(sink, video)
    audio = {stream.index: sink.add_stream_from_template(stream) for stream in source.streams.audio}
    for packet in source.demux(video, *source.streams.audio):
        if packet.stream.index in audio:
            if packet.dts is not None:
                packet.stream = audio[packet.stream.index]
                sink.mux(packet)
            continue
        for frame in packet.decode():
            sink.mux(encoder.encode(colour_frame(frame, colour)))
            progress(1)
    sink.mux(encoder.encode())


def clip_info(path):
    """(frames as the header states them or None, (height, width)) of a clip; ImageError for a file that is no
    readable video."""
    import av

    try:
        with av.open(str(path)) as source:
            if not source.streams.video:
                raise ImageError(f"{path}: holds no video stream")
            video = source.streams.video[0]
            return video.frames or None, (video.codec_context.height, video.codec_context.width)
    except av.error.FFmpegError as e:
        raise ImageError(f"{path}: not a readable video ({e.strerror or e})") from e


def write_clip(path, target, colour, progress=lambda frames: None):
    """`path` decoded, coloured frame by frame by `colour` (RGB -> RGB) and encoded to `target`, as a stream.
    The file appears under its name only when whole: it is written beside it and renamed, and removed on any
    failure, Ctrl-C included. ImageError names a file that is no readable video, or breaks off."""
    import av

    partial = target.with_name(f".{target.stem}.partial-{os.getpid()}{target.suffix}")
    try:
        with av.open(str(path)) as source, av.open(str(partial), "w") as sink:
            if not source.streams.video:
                raise ImageError(f"{path}: holds no video stream")
            copy_clip(source, sink, colour, progress)
        os.replace(partial, target)
    except av.error.FFmpegError as e:
        raise ImageError(f"{path}: not a readable video ({e.strerror or e}); nothing written for it") from e
    finally:
        partial.unlink(missing_ok=True)
