"""The local web page behind `make serve`: open a photo, see it colorized, steer it with colour hints.

A Starlette app over the one road (`inference.colorize`): the page sends the photo once, then asks for the
colour picture (a preview while steering, the full resolution to download) with the current model,
temperature and hints, for the classifier's suggested colours at a pixel, and for the hints as a hint picture
that `colorize.py --hints` reads. Photos live in memory only (a few, the most recently used); an upload goes
through a temporary file, removed at once, so it meets exactly colorize.py's checks and --max-pixels guard.
"""
import secrets
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .checkpoint import load_model, training_size
from .cli import UserError
from .color import gray8, lab_to_rgb
from .data import ImageError
from .faces import FRAMING_FILE, find_faces, load_framing
from .files import IMAGE_SUFFIXES
from .hints import parse_point, point_hints
from .inference import colorize_later, fit_gamut, lightness, predict, shrink
from .photos import heat_map, load, points_as_picture
from .plots import encode

PAGE = Path(__file__).resolve().parent.parent / "page"
PHOTOS_KEPT = 4  # photos held in memory, the least recently used dropped first
PREVIEW_SIDE = 1280  # the page steers on a preview of at most this many pixels on its long side
SUGGESTIONS = 6
FACES_MIN_SIZE = 40  # px, colorize.py's --faces-min-size default
MAX_UPLOAD = 200 * 2**20  # bytes


class BadRequestError(Exception):
    """A request the page or its user can fix: answered with a 4xx and the message."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class Models:
    """The shipped checkpoints, loaded when first asked for; each with a lock, so two requests never run a
    forward pass (or change its temperature) on the same model at once."""

    def __init__(self, folder, device):
        self.folder, self.device = Path(folder), device
        self.loaded, self.guard = {}, threading.Lock()

    def names(self):
        return sorted(p.name for p in self.folder.glob("*.pt"))

    def get(self, name):
        if name not in self.names():
            raise BadRequestError(f"no model {name!r}; choose one of {', '.join(self.names())}", 404)
        with self.guard:
            if name not in self.loaded:
                model, state = load_model(self.folder / name, self.device)
                self.loaded[name] = model, state, threading.Lock()
            return self.loaded[name]

    def describe(self):
        out = []
        for name in self.names():
            model, state, _ = self.get(name)
            out.append({"name": name, "hints": bool(model.hints), "classifier": state["model"] == "classifier",
                        "temperature": getattr(model, "temperature", None),
                        "mse_ab": state.get("metrics", {}).get("mse_ab")})
        return out


class Photos:
    """Decoded photos by id, the PHOTOS_KEPT most recently used, with their previews, L, and what the page
    asks of them again and again: the classifier's bins, the faces in the preview."""

    def __init__(self):
        self.items, self.guard = OrderedDict(), threading.Lock()

    def add(self, name, img):
        scale = min(1.0, PREVIEW_SIDE / max(img.shape[:2]))
        preview = img if scale == 1 else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        photo = {"name": name, "img": img, "preview": preview, "scale": scale, "L": lightness(img), "logits": {},
                 "faces": None}
        key = secrets.token_urlsafe(12)
        with self.guard:
            self.items[key] = photo
            while len(self.items) > PHOTOS_KEPT:
                self.items.popitem(last=False)
        return key, photo

    def get(self, key):
        with self.guard:
            if key not in self.items:
                raise BadRequestError("this photo is no longer held by the server (it keeps the last few); "
                                      "open it again", 404)
            self.items.move_to_end(key)
            return self.items[key]


def decode_upload(data, filename, max_pixels):
    """An uploaded file decoded by colorize.py's own checks; ImageError messages name the upload."""
    suffix = Path(filename).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise BadRequestError(f"{filename}: not a picture this tool reads ({', '.join(sorted(IMAGE_SUFFIXES))})", 415)
    with tempfile.TemporaryDirectory(prefix="colorize-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return load(path, max_pixels)
        except ImageError as e:
            status = 413 if "--max-pixels" in str(e) else 422
            raise BadRequestError(str(e).replace(str(path), filename), status) from e


def hints_of(body, shape):
    """The request's hint points ([{"x", "y", "colour"}] in the pixels of a photo of `shape`) as (x, y, rgb)."""
    points = []
    for hint in body.get("hints") or []:
        try:
            x, y, colour = int(hint["x"]), int(hint["y"]), str(hint["colour"])
        except (KeyError, TypeError, ValueError) as e:
            raise BadRequestError(f"bad hint {hint!r}: a hint is {{x, y, colour}}, x and y whole pixels") from e
        try:
            x, y, rgb = parse_point(f"{x},{y},{colour}")
        except ValueError as e:
            raise BadRequestError(f"bad hint: {e}") from e
        if not (0 <= x < shape[1] and 0 <= y < shape[0]):
            raise BadRequestError(f"hint {x},{y} is outside the photo ({shape[1]}x{shape[0]})")
        points.append((x, y, rgb))
    return points


def jpeg(img):
    """Previews go as JPEG, smaller and quicker to encode than PNG: they are replaced at every click."""
    return encode(img, ".jpg", (cv2.IMWRITE_JPEG_QUALITY, 92)).tobytes()


def png(img):
    return encode(img).tobytes()


def create_app(pretrained, device, max_pixels=100e6, default_model="classifier.pt"):
    models, photos = Models(pretrained, device), Photos()
    framing = load_framing() if FRAMING_FILE.is_file() else None

    def colour(body, full):
        photo = photos.get(body.get("photo"))
        model, state, lock = models.get(body.get("model") or default_model)
        img = photo["img"] if full else photo["preview"]
        size = training_size(state)
        points = hints_of(body, photo["img"].shape[:2])
        if points and not model.hints:
            raise BadRequestError(f"{body.get('model')} takes no colour hints; choose a hint model such as hints.pt")
        scale = 1.0 if full else photo["scale"]
        hints = point_hints([(int(x * scale), int(y * scale), rgb) for x, y, rgb in points], img.shape[:2], size)
        faces, found = ((framing, FACES_MIN_SIZE) if framing else None), None
        if faces and not full and not points:  # every slider move colours the same preview: look for faces once
            if photo["faces"] is None:
                photo["faces"] = find_faces(lightness(img), *faces)
            found = [photo["faces"]]
        confidence = bool(body.get("confidence")) and hasattr(model, "bins")
        temperature = body.get("temperature")
        if temperature is not None and not isinstance(temperature, (int, float)):
            raise BadRequestError(f"temperature {temperature!r} is not a number")
        with lock:
            if temperature is not None and hasattr(model, "temperature"):
                saved, model.temperature = model.temperature, float(temperature)
            try:
                pictures = colorize_later(model, [img], size, device, confidence, faces, [hints], found)
            finally:
                if temperature is not None and hasattr(model, "temperature"):
                    model.temperature = saved
        result = pictures()[0]
        if confidence:
            return jpeg(heat_map(result.confidence))
        return png(result.rgb) if full else jpeg(result.rgb)

    def suggestions(key, x, y, name):
        """The classifier's most likely colours at pixel (x, y) of the photo, each shown at that pixel's L."""
        photo = photos.get(key)
        H, W = photo["L"].shape
        if not (0 <= x < W and 0 <= y < H):
            raise BadRequestError(f"pixel {x},{y} is outside the photo ({W}x{H})")
        name = name or default_model
        model, state, lock = models.get(name)
        if not hasattr(model, "bins"):
            raise BadRequestError(f"{name} is not a classification model; suggestions come from one such as "
                                  "classifier.pt")
        if name not in photo["logits"]:
            size = training_size(state)
            with lock:
                logits, _ = predict(model, [shrink(photo["L"], size)], device)
            photo["logits"][name] = torch.softmax(logits[0].float(), dim=0).cpu()
        probs = photo["logits"][name]
        row, col = y * probs.shape[1] // H, x * probs.shape[2] // W
        p, bins = probs[:, row, col].topk(SUGGESTIONS)
        ab = model.centres[bins].cpu().numpy()
        lab = np.concatenate([np.full((len(ab), 1), photo["L"][y, x], np.float32), ab], axis=1)[None]
        rgb = lab_to_rgb(fit_gamut(lab[..., 0], lab[..., 1:]))[0]
        return [{"colour": "#" + "".join(f"{int(v):02x}" for v in c), "probability": float(q), "bin": int(b),
                 "ab": [float(v) for v in a]} for c, q, b, a in zip(rgb, p, bins, ab)]

    async def json_body(request):
        try:
            body = await request.json()
        except ValueError as e:
            raise BadRequestError("the request is not JSON") from e
        if not isinstance(body, dict):
            raise BadRequestError("the request is not a JSON object")
        return body

    async def upload(request: Request):
        form = await request.form(max_part_size=MAX_UPLOAD)
        file = form.get("photo")
        if file is None or not hasattr(file, "read"):
            raise BadRequestError("no photo in the upload (a form field named photo)")
        data = await file.read()
        if not data:
            raise BadRequestError(f"{file.filename}: empty file")
        img = await run_in_threadpool(decode_upload, data, file.filename or "upload", max_pixels)
        key, photo = await run_in_threadpool(photos.add, file.filename, img)
        return JSONResponse({"photo": key, "name": file.filename, "width": img.shape[1], "height": img.shape[0],
                             "preview_width": photo["preview"].shape[1], "preview_height": photo["preview"].shape[0],
                             "gray": f"/api/gray/{key}"})

    async def gray(request: Request):
        photo = await run_in_threadpool(photos.get, request.path_params["key"])
        L = photo["L"] if photo["scale"] == 1 else cv2.resize(photo["L"], photo["preview"].shape[1::-1],
                                                              interpolation=cv2.INTER_AREA)
        return Response(jpeg(gray8(L)), media_type="image/jpeg")

    async def preview(request: Request):
        body = await json_body(request)
        return Response(await run_in_threadpool(colour, body, False), media_type="image/jpeg")

    async def download(request: Request):
        body = await json_body(request)
        photo = await run_in_threadpool(photos.get, body.get("photo"))
        data = await run_in_threadpool(colour, {**body, "confidence": False}, True)
        return Response(data, media_type="image/png", headers={
            "Content-Disposition": f'attachment; filename="{Path(photo["name"]).stem}_color.png"'})

    async def hint_picture(request: Request):
        body = await json_body(request)
        photo = await run_in_threadpool(photos.get, body.get("photo"))
        _, state, _ = models.get(body.get("model") or "hints.pt")
        points = hints_of(body, photo["img"].shape[:2])
        picture = points_as_picture(points, photo["img"].shape[:2], training_size(state))
        return Response(png(picture), media_type="image/png", headers={
            "Content-Disposition": f'attachment; filename="{Path(photo["name"]).stem}_hints.png"'})

    async def suggest(request: Request):
        q = request.query_params
        try:
            x, y = int(q["x"]), int(q["y"])
        except (KeyError, ValueError) as e:
            raise BadRequestError("suggestions need whole pixel numbers x and y") from e
        found = await run_in_threadpool(suggestions, q.get("photo"), x, y, q.get("model"))
        return JSONResponse({"suggestions": found})

    async def model_list(request: Request):
        return JSONResponse({"models": await run_in_threadpool(models.describe), "default": default_model})

    async def index(request: Request):
        return FileResponse(PAGE / "index.html")

    async def bad_request(request, exc):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    async def user_error(request, exc):
        return JSONResponse({"error": str(exc)}, status_code=422)

    routes = [Route("/", index), Route("/api/models", model_list), Route("/api/photo", upload, methods=["POST"]),
              Route("/api/gray/{key}", gray), Route("/api/colorize", preview, methods=["POST"]),
              Route("/api/download", download, methods=["POST"]),
              Route("/api/hints-picture", hint_picture, methods=["POST"]), Route("/api/suggest", suggest),
              Mount("/static", StaticFiles(directory=PAGE), name="static")]
    return Starlette(routes=routes, exception_handlers={BadRequestError: bad_request, UserError: user_error})
