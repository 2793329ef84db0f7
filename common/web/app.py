"""The local web page behind `make serve`: open a photo, see it colorized, steer it with colour hints.

A Starlette app over the one road (`inference.colorize`): the page sends the photo once, then asks for the
colour picture (a preview while steering, the full resolution to download) with the current model,
temperature and hints, for the classifier's suggested colours at a pixel, and for the hints as a hint picture
that `colorize.py --hints` reads. Photos live in memory only (the most recently used, within a memory budget);
an upload streams to a temporary file, removed at once, so it meets exactly colorize.py's checks and
--max-pixels guard.

It serves the user's own browser and nothing else: a request for another host name (DNS rebinding) or a
state-changing request from another origin (any web page the user visits) is refused, bodies are cut at their
limit while they stream in, and work for a client that went away, or a server told to stop, ends early.
"""
import asyncio
import functools
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote, urlsplit

import anyio
import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..checkpoint import load_model, training_size
from ..cli import UserError
from ..color import gray8, lab_to_rgb
from ..faces import FRAMING_FILE, find_faces, load_framing
from ..files import CLASSIFIERS, IMAGE_SUFFIXES, PAGE, default_model
from ..hints import parse_point, point_hints
from ..images import ImageError, read_photo
from ..inference import (
    StoppedError,
    check,
    colorize_later,
    confidence_maps,
    fit_gamut,
    lightness,
    predict,
    shrink,
    unsure,
)
from ..models import preset
from ..photos import heat_map, hint_places, points_as_picture
from ..plots import encode

PHOTOS_KEPT = 64  # photos held at most, the least recently used dropped first...
PHOTO_MEMORY = 2**30  # ...and while their pixels take more than this many bytes (the newest always stays)
PREVIEW_SIDE = 1280  # the page steers on a preview of at most this many pixels on its long side
SUGGESTIONS = 6
FACES_MIN_SIZE = 40  # px, colorize.py's --faces-min-size default
MAX_UPLOAD = 100 * 2**20  # bytes, serve.py's --max-upload default: a 100 MP JPEG, a 30 MP 8-bit TIFF
MAX_JSON = 256 * 2**10  # bytes of a JSON request; MAX_HINTS hints take a tenth of it
MAX_HINTS = 500  # hint points in one request: far more than anyone clicks, few enough to answer at once
MAX_COLOUR = 64  # characters of a colour: '#rrggbb' or a CSS name
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class BadRequestError(Exception):
    """A request the page or its user can fix: answered with a 4xx and the message."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def shown(value, limit=40):
    """A value of the request quoted in a message, cut short: an error never echoes a megabyte back."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def host_name(host):
    """The name in a Host header or an origin's netloc, lower case, without its port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(method, scheme, headers, hosts):
    """Why another web page could be behind this request, or None. The Host must be one this server answers
    to (a page on a name that resolves to 127.0.0.1 sends its own), and a state-changing request must come
    from the page itself: its Origin, when the browser sends one, is this very scheme, host and port."""
    host = headers.get("host", "")
    if "*" not in hosts and host_name(host) not in hosts:
        return (f"this server answers to {', '.join(sorted(hosts))}, not to host {shown(host)}; open the page at "
                "one of those, or start serve.py with --allow-host NAME")
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme != scheme or parts.netloc.lower() != host.lower():
            return f"a page from {shown(origin)} may not use this server; open http://{host}/ itself"
    elif headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "a request made by another web page may not use this server"
    return None


class LocalOnly:
    """ASGI middleware that answers `refusal`s with a 403 before the app sees them."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, {host_name(h) for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            problem = refusal(scope["method"], scope["scheme"], Headers(scope=scope), self.hosts)
            if problem:
                return await JSONResponse({"error": problem}, status_code=403)(scope, receive, send)
        await self.app(scope, receive, send)


def limited(request, limit, what):
    """The request with its body cut at `limit` bytes: a larger declared length is refused before anything is
    read, and a body that runs past the limit (chunked, or lying) is refused the moment it does."""
    too_large = BadRequestError(f"{what} is larger than this server takes ({limit / 2**20:.3g} MB)", 413)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    seen = 0

    async def receive():
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise too_large
        return message

    return Request(request.scope, receive)


async def json_body(request):
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise BadRequestError("send the request as JSON (Content-Type: application/json)", 415)
    request = limited(request, MAX_JSON, "the request")
    try:
        body = await request.json()
    except ValueError as e:
        raise BadRequestError("the request is not JSON") from e
    if not isinstance(body, dict):
        raise BadRequestError("the request is not a JSON object")
    return body


async def until_done(request, job, *args):
    """`job(stop, *args)` on a worker thread. `stop` is set when the client goes away or the request is
    cancelled (the server stopping), so the job ends early (StoppedError) instead of finishing a picture that
    nobody will see; the caller has read the whole body, so all the client can send next is its disconnect."""
    stop = threading.Event()

    async def client_gone():
        while (await request.receive())["type"] != "http.disconnect":
            pass
        stop.set()

    watcher = asyncio.ensure_future(client_gone())
    try:
        return await anyio.to_thread.run_sync(functools.partial(job, stop, *args), abandon_on_cancel=True)
    finally:
        stop.set()
        watcher.cancel()


def attachment(name):
    """Content-Disposition for a download named in any script: an ASCII stand-in and the UTF-8 name (RFC 6266)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def plain_name(state):
    """What a checkpoint does, in the words of someone choosing a model on the page."""
    config = state["config"]
    if state["model"] == "ensemble":
        return f"Most accurate ({' and '.join(network_name(m) for m in config['members'])}, averaged)"
    if state["model"] == "regressor":
        return "One mean colour for the whole photo (regressor)"
    if config.get("hints"):
        return "Follows the colours you click (hint model)"
    if state["model"] == "classifier":
        return f"Vivid colours ({network_name(state)})"
    return f"Calm colours ({network_name(state)}{', tanh output' if config.get('tanh') else ''})"


def network_name(state):
    """The network of a colorizer or classifier checkpoint, as plain_name says it."""
    config = state["config"]
    number = preset(config["features"])
    net = "U-Net" if config.get("unet") else f"Network {number}" if number else "custom network"
    return f"{net} classifier" if state["model"] == "classifier" else net


class Models:
    """The shipped checkpoints, loaded when first asked for; each with a lock, so two requests never run a
    forward pass on the same model at once."""

    def __init__(self, folder, device):
        self.folder, self.device = Path(folder), device
        self.loaded, self.guard = {}, threading.Lock()

    def names(self):
        return sorted(p.name for p in self.folder.glob("*.pt"))

    def get(self, name):
        if name not in self.names():
            raise BadRequestError(f"no model {shown(name)}; choose one of {', '.join(self.names())}", 404)
        with self.guard:
            if name not in self.loaded:
                model, state = load_model(self.folder / name, self.device)
                self.loaded[name] = model, state, threading.Lock()
            return self.loaded[name]

    def describe(self):
        out = []
        for name in self.names():
            model, state, _ = self.get(name)
            out.append({"name": name, "label": plain_name(state), "hints": model.takes_hints,
                        "classifier": model.has_bins,
                        "temperature": model.settings.temperature if model.has_bins else None,
                        "mse_ab": state.get("metrics", {}).get("mse_ab")})
        return out


def preview_of(img):
    """The photo at most PREVIEW_SIDE on its long side, and never under 1 pixel on its short one."""
    scale = min(1.0, PREVIEW_SIDE / max(img.shape[:2]))
    if scale == 1:
        return img, scale
    size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA), scale


class Photos:
    """Decoded photos by id, the most recently used within PHOTOS_KEPT and PHOTO_MEMORY, with their previews,
    L, and what the page asks of them again and again: the classifiers' logits, the faces in the preview."""

    def __init__(self):
        self.items, self.guard = OrderedDict(), threading.Lock()

    def add(self, name, img):
        preview, scale = preview_of(img)
        L = lightness(img)
        photo = {"name": name, "img": img, "preview": preview, "scale": scale, "L": L, "logits": {}, "faces": None,
                 "bytes": img.nbytes + preview.nbytes + L.nbytes}
        key = secrets.token_urlsafe(12)
        with self.guard:
            self.items[key] = photo
            while len(self.items) > 1 and (len(self.items) > PHOTOS_KEPT or
                                           sum(p["bytes"] for p in self.items.values()) > PHOTO_MEMORY):
                self.items.popitem(last=False)
        return key, photo

    def get(self, key):
        if not isinstance(key, str):
            raise BadRequestError("name the photo by the id its upload answered (\"photo\": a string)")
        with self.guard:
            if key not in self.items:
                raise BadRequestError("this photo is no longer held by the server (it keeps the last few); "
                                      "open it again", 404)
            self.items.move_to_end(key)
            return self.items[key]


def decode_upload(stream, filename, max_pixels):
    """An uploaded file, copied from its spool to a file of its own, decoded by colorize.py's own checks;
    ImageError messages name the upload."""
    suffix = Path(filename).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise BadRequestError(f"{filename}: not a picture this tool reads ({', '.join(sorted(IMAGE_SUFFIXES))})", 415)
    with tempfile.TemporaryDirectory(prefix="colorize-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        with open(path, "wb") as f:
            shutil.copyfileobj(stream, f)
        try:
            return read_photo(path, max_pixels)
        except ImageError as e:
            status = 413 if "--max-pixels" in str(e) else 422
            raise BadRequestError(str(e).replace(str(path), filename), status) from e


def hints_of(body, shape):
    """The request's hint points ([{"x", "y", "colour"}] in the pixels of a photo of `shape`) as (x, y, rgb),
    refused whole past MAX_HINTS before any is read."""
    hints = body.get("hints") or []
    if not isinstance(hints, list):
        raise BadRequestError(f"hints {shown(hints)} are not a list of {{x, y, colour}}")
    if len(hints) > MAX_HINTS:
        raise BadRequestError(f"{len(hints)} hints in one request; at most {MAX_HINTS}")
    points = []
    for hint in hints:
        try:
            x, y, colour = int(hint["x"]), int(hint["y"]), hint["colour"]
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise BadRequestError(f"bad hint {shown(hint)}: a hint is {{x, y, colour}}, x and y whole pixels") from e
        if not isinstance(colour, str) or len(colour) > MAX_COLOUR:
            raise BadRequestError(f"bad hint colour {shown(colour)}: use #rrggbb or a name such as red")
        try:
            x, y, rgb = parse_point(f"{x},{y},{colour}")
        except ValueError as e:
            raise BadRequestError(f"bad hint: {e}") from e
        if not (0 <= x < shape[1] and 0 <= y < shape[0]):
            raise BadRequestError(f"hint {x},{y} is outside the photo ({shape[1]}x{shape[0]})")
        points.append((x, y, rgb))
    return points


def temperature_of(body):
    """The classifier's temperature asked for: None for the model's own, else a number from 0 (the most likely
    bin) to 1 (the mean of the bins)."""
    t = body.get("temperature")
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1):
        raise BadRequestError(f"temperature {shown(t)} is not a number from 0 to 1")
    return None if t is None else float(t)


def jpeg(img):
    """Previews go as JPEG, smaller and quicker to encode than PNG: they are replaced at every click."""
    return encode(img, ".jpg", (cv2.IMWRITE_JPEG_QUALITY, 92)).tobytes()


def png(img):
    return encode(img).tobytes()


class Page:
    """The page's API: each request's work on the photos and models held, apart from how the app is assembled."""

    def __init__(self, models, device, default_model, max_pixels, max_upload):
        self.models, self.photos, self.device = models, Photos(), device
        self.default_model, self.max_pixels, self.max_upload = default_model, max_pixels, max_upload
        self.faces = (load_framing(), FACES_MIN_SIZE) if FRAMING_FILE.is_file() else None

    def colour(self, stop, body, full):
        """The colour picture the request asks for: the preview (JPEG) or the full photo (PNG), or the preview's
        confidence map; `stop` ends the work early (StoppedError)."""
        photo = self.photos.get(body.get("photo"))
        name = body.get("model") or self.default_model
        model, state, lock = self.models.get(name)
        img = photo["img"] if full else photo["preview"]
        size = training_size(state)
        points = hints_of(body, photo["img"].shape[:2])
        if points and not model.takes_hints:
            raise BadRequestError(f"{name} takes no colour hints; choose a hint model such as hints.pt")
        temperature = temperature_of(body)
        scale = 1.0 if full else photo["scale"]
        hints = point_hints([(int(x * scale), int(y * scale), rgb) for x, y, rgb in points], img.shape[:2], size)
        if body.get("confidence") and model.has_bins:
            if not points:
                return jpeg(heat_map(self.confidence(photo, name, img.shape[:2])))
            with lock:
                confidence = confidence_maps(model, [img], size, self.device, [hints], stop)[0]
            return jpeg(heat_map(confidence))
        found = None
        if self.faces and not full and not points:  # every slider move colours the same preview: find faces once
            if photo["faces"] is None:
                photo["faces"] = find_faces(lightness(img), *self.faces)
            found = [photo["faces"]]
        check(stop)
        with lock:
            pictures = colorize_later(model, [img], size, self.device, False, self.faces, [hints], found, temperature,
                                      stop)
        result = pictures(stop)[0]
        check(stop)
        return png(result.rgb) if full else jpeg(result.rgb)

    def logits(self, photo, name):
        """A classifier's logits over the photo without hints (Q, h, w), worked out once per photo and model: the
        suggestions, the places and the confidence map without hints all read them."""
        name = name or self.default_model
        model, state, lock = self.models.get(name)
        if not model.has_bins:
            raise BadRequestError(f"{name} is not a classification model; suggestions come from one such as "
                                  f"{CLASSIFIERS[0]}")
        if name not in photo["logits"]:
            with lock:
                logits, _ = predict(model, [shrink(photo["L"], training_size(state))], self.device)
            photo["logits"][name] = logits[0].cpu()
        return model, photo["logits"][name]

    def confidence(self, photo, name, shape):
        """colorize.py --confidence's map of the photo at `shape`: the same for every temperature and request."""
        model, logits = self.logits(photo, name)
        return unsure(model, model.entropy(logits[None])[0].numpy(), shape)

    def suggestions(self, key, x, y, name):
        """The classifier's most likely colours at pixel (x, y) of the photo, each shown at that pixel's L."""
        photo = self.photos.get(key)
        H, W = photo["L"].shape
        if not (0 <= x < W and 0 <= y < H):
            raise BadRequestError(f"pixel {x},{y} is outside the photo ({W}x{H})")
        model, logits = self.logits(photo, name)
        p, bins = logits[:, y * logits.shape[1] // H, x * logits.shape[2] // W].softmax(0).topk(SUGGESTIONS)
        ab = model.centres[bins].cpu().numpy()
        lab = np.concatenate([np.full((len(ab), 1), photo["L"][y, x], np.float32), ab], axis=1)[None]
        rgb = lab_to_rgb(fit_gamut(lab[..., 0], lab[..., 1:]))[0]
        return [{"colour": "#" + "".join(f"{int(v):02x}" for v in c), "probability": float(q), "bin": int(b),
                 "ab": [float(v) for v in a]} for c, q, b, a in zip(rgb, p, bins, ab)]

    def places(self, key, name):
        """Where a hint would help most: the largest regions where the classifier is least sure (`hint_places` on
        its confidence map, at the preview's size), in the photo's pixels."""
        photo = self.photos.get(key)
        preview = self.confidence(photo, name, photo["preview"].shape[:2])
        return [{"x": min(photo["img"].shape[1] - 1, int(x / photo["scale"])),
                 "y": min(photo["img"].shape[0] - 1, int(y / photo["scale"]))} for x, y in hint_places(preview)]

    async def upload(self, request: Request):
        request = limited(request, self.max_upload, "the photo")
        async with request.form(max_files=1, max_fields=4, max_part_size=4096) as form:
            file = form.get("photo")
            if not isinstance(file, UploadFile):
                raise BadRequestError("no photo in the upload (a form field named photo)")
            name = Path(file.filename or "upload").name
            if not file.size:
                raise BadRequestError(f"{name}: empty file")
            img = await run_in_threadpool(decode_upload, file.file, name, self.max_pixels)
        key, photo = await run_in_threadpool(self.photos.add, name, img)
        return JSONResponse({"photo": key, "name": name, "width": img.shape[1], "height": img.shape[0],
                             "preview_width": photo["preview"].shape[1], "preview_height": photo["preview"].shape[0],
                             "gray": f"/api/gray/{key}"})

    async def gray(self, request: Request):
        photo = await run_in_threadpool(self.photos.get, request.path_params["key"])
        L = photo["L"] if photo["scale"] == 1 else cv2.resize(photo["L"], photo["preview"].shape[1::-1],
                                                              interpolation=cv2.INTER_AREA)
        return Response(jpeg(gray8(L)), media_type="image/jpeg")

    async def preview(self, request: Request):
        body = await json_body(request)
        return Response(await until_done(request, self.colour, body, False), media_type="image/jpeg")

    async def download(self, request: Request):
        body = await json_body(request)
        photo = await run_in_threadpool(self.photos.get, body.get("photo"))
        data = await until_done(request, self.colour, {**body, "confidence": False}, True)
        return Response(data, media_type="image/png",
                        headers={"Content-Disposition": attachment(f"{Path(photo['name']).stem}_color.png")})

    async def hint_picture(self, request: Request):
        body = await json_body(request)
        photo = await run_in_threadpool(self.photos.get, body.get("photo"))
        _, state, _ = self.models.get(body.get("model") or "hints.pt")
        points = hints_of(body, photo["img"].shape[:2])
        picture = points_as_picture(points, photo["img"].shape[:2], training_size(state))
        return Response(png(picture), media_type="image/png",
                        headers={"Content-Disposition": attachment(f"{Path(photo['name']).stem}_hints.png")})

    async def suggest(self, request: Request):
        q = request.query_params
        try:
            x, y = int(q["x"]), int(q["y"])
        except (KeyError, ValueError) as e:
            raise BadRequestError("suggestions need whole pixel numbers x and y") from e
        found = await run_in_threadpool(self.suggestions, q.get("photo"), x, y, q.get("model"))
        return JSONResponse({"suggestions": found})

    async def suggest_places(self, request: Request):
        q = request.query_params
        found = await run_in_threadpool(self.places, q.get("photo"), q.get("model"))
        return JSONResponse({"places": found})

    async def model_list(self, request: Request):
        """The models, the default, and the classifier that says where colour is unsure when the chosen model has no
        bins (colorize.py --confidence's)."""
        return JSONResponse({"models": await run_in_threadpool(self.models.describe), "default": self.default_model,
                             "unsure": default_model(self.models.folder, bins=True).name})

    async def index(self, request: Request):
        return FileResponse(PAGE / "index.html")


async def bad_request(request, exc):
    closing = {"Connection": "close"} if exc.status == 413 else {}  # the rest of a body too large is not read
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=closing)


async def user_error(request, exc):
    return JSONResponse({"error": str(exc)}, status_code=422)


async def http_error(request, exc):
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def stopped(request, exc):
    return Response(status_code=503)  # nobody is waiting for it: the client went away, or the server stops


def create_app(pretrained, device, max_pixels=100e6, hosts=LOCAL_HOSTS, max_upload=MAX_UPLOAD):
    """The page's app. `hosts`: the names it answers to ('*' for any); `max_upload`: bytes of an upload."""
    chosen = default_model(Path(pretrained)).name
    page = Page(Models(pretrained, device), device, chosen, max_pixels, max_upload)
    routes = [Route("/", page.index), Route("/api/models", page.model_list),
              Route("/api/photo", page.upload, methods=["POST"]), Route("/api/gray/{key}", page.gray),
              Route("/api/colorize", page.preview, methods=["POST"]),
              Route("/api/download", page.download, methods=["POST"]),
              Route("/api/hints-picture", page.hint_picture, methods=["POST"]), Route("/api/suggest", page.suggest),
              Route("/api/places", page.suggest_places),
              Mount("/static", StaticFiles(directory=PAGE), name="static")]
    app = Starlette(routes=routes, exception_handlers={BadRequestError: bad_request, UserError: user_error,
                                                       HTTPException: http_error, StoppedError: stopped})
    return LocalOnly(app, hosts)
