"""Training throughput, measured in one run on one machine: (1) the model step alone on ready tensors,
(2) the full step with our in-memory batched pipeline, (3) a naive per-sample PIL + OpenCV pipeline
through a DataLoader with 2 workers, as the report's notebooks had it. Prints one table."""
import argparse
import itertools
import json
import os
import resource
import statistics
import time
from pathlib import Path

import common  # noqa: F401  (before torch: it tunes OpenMP, see common/__init__.py)

# isort: split
import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from common.cli import add_common_args, guarded, keep_freed_memory, prepare, warn
from common.color import L_SCALE
from common.data import CROP_SCALE, StreamedBatches, TrainBatches
from common.engine import BF16_EMULATED, make_optimizer, make_step, uses_graphs
from common.files import writable_dir
from common.inference import emulated_bf16
from common.models import PRESETS, Colorizer
from common.prepare import default_workers, prepared_part


class NaiveFaces(Dataset):
    """One sample at a time: PIL flip and crop, then OpenCV LAB; the baseline to beat."""

    def __init__(self, images, augment, size):
        self.images = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]
        self.augment = augment
        self.transform = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomResizedCrop(size, scale=CROP_SCALE)])

    def __len__(self):
        return len(self.images) * self.augment

    def __getitem__(self, i):
        rgb = np.asarray(self.transform(self.images[i % len(self.images)]), dtype=np.float32) / 255.0
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
        L, ab = torch.from_numpy(lab[..., :1] / L_SCALE), torch.from_numpy(lab[..., 1:])
        return L.permute(2, 0, 1), ab.permute(2, 0, 1)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(batches, step, steps, warmup, device):
    """Samples per second of `step` over `steps` batches after `warmup` batches."""
    count, tic = 0, None
    for i, (L, ab) in enumerate(batches):
        if i == warmup:
            sync(device)
            tic, count = time.perf_counter(), 0
        step(L.to(device, non_blocking=True), ab.to(device, non_blocking=True))
        count += len(L)
        if i + 1 == warmup + steps:
            break
    sync(device)
    return count / (time.perf_counter() - tic)


def interleaved(sources, step, steps, warmup, rounds, device):
    """Median samples/s of each source over `rounds` rounds that take the sources in turn, so a
    change in the machine's load during the run weighs on every measurement alike."""
    runs = {name: [] for name in sources}
    for _ in range(rounds):
        for name, batches in sources.items():
            runs[name].append(timed(batches(), step, steps, warmup, device))
    return {name: statistics.median(values) for name, values in runs.items()}


def peak_memory_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def repeat(batch):
    while True:
        yield batch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default="data/split", help="split made by split_data.py (default: %(default)s)")
    p.add_argument("--net", choices=[*map(str, sorted(PRESETS)), "unet"], default="3",
                   help="the report's preset or the U-Net of Network 3's modules (default: %(default)s)")
    p.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto",
                   help="bf16 autocast of the forward pass, as train_colorizer.py (default: auto, on CUDA only)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model, as train_colorizer.py")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--steps", type=int, default=12, help="timed steps per measurement (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before each (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=5,
                   help="rounds over the three measurements; each figure is its median (default: %(default)s)")
    p.add_argument("--full-run", action=argparse.BooleanOptionalAction,
                   help="also time a whole Network 3 run end to end (default: on CUDA only; 200 epochs take about "
                        "an hour on a laptop CPU)")
    p.add_argument("--full-run-epochs", type=int, default=200, help="epochs of that run (default: %(default)s)")
    p.add_argument("--photos", action="store_true",
                   help="also time colorize.py end to end on 1 and 12 MP photos and take peak RSS at 24 MP")
    p.add_argument("--page", action="store_true",
                   help="also time the web page in headless Chromium on a 1 MP photo: opening it, and from the "
                        "choice of a hint's colour to the updated picture, median of 20 hints (make setup-browser)")
    p.add_argument("--load", action="store_true",
                   help="also fire 50 colour requests with 10 hints each and 50 uploads at once at a serve.py process, "
                        "check every answer and report p95 latency")
    p.add_argument("--video", action="store_true",
                   help="also time colorize.py on a 640x360 film (frames/s, faces off and on) and take its peak RSS "
                        "on a 10 s and a 60 s clip")
    p.add_argument("--collection", type=int, nargs="+", metavar="N",
                   help="also train on made-up photo collections of these sizes (make_photos.py, e.g. 5000 20000): "
                        "preparation rate, time to the first step at the largest, and the anonymous memory of a "
                        "1-epoch run at --size 256 for each")
    p.add_argument("--collection-dir", default="data/collections",
                   help="where the collections and their splits are kept between runs (default: %(default)s)")
    p.add_argument("--collection-src", default="data/face_images",
                   help="pictures the collections are composed from (default: %(default)s)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    add_common_args(p)
    args = p.parse_args(argv)
    if args.json:
        writable_dir(Path(args.json).parent)  # a minute of measuring must not end in an unwritable path
    return args


def step_figures(args, device):
    """The three training measurements: the model step alone, with our pipeline, with the naive one."""
    if emulated_bf16(device, args.amp):
        warn(BF16_EMULATED)
    photos = prepared_part(args.data, "train", 128)
    images = photos.stacked()
    unet = args.net == "unet"
    model = Colorizer(PRESETS[3 if unet else int(args.net)], unet=unet).to(device, memory_format=torch.channels_last)
    graphed = uses_graphs("auto", device, args.compile)
    optimizer = make_optimizer(model, 0.01, device, graphed=graphed)
    net = torch.compile(model) if args.compile else model
    step = make_step(net, model, optimizer, device, args.amp, graphed)  # what make train runs per batch
    ours = TrainBatches(images, args.batch_size, 10, 128, args.seed, device)
    streamed = StreamedBatches(photos, args.batch_size, 10, 128, args.seed, device)
    ready = next(ours.epoch(0))
    loader = DataLoader(NaiveFaces(images, 10, 128), batch_size=args.batch_size, shuffle=True, num_workers=2,
                        persistent_workers=False, pin_memory=device.type == "cuda")
    epochs = itertools.count(1)
    sps = interleaved({"model_only": lambda: repeat(ready), "pipeline": lambda: ours.epoch(next(epochs)),
                       "stream": lambda: streamed.epoch(next(epochs)), "naive": lambda: iter(loader)},
                      step, args.steps, args.warmup, args.rounds, device)
    model_only, pipeline, naive = sps["model_only"], sps["pipeline"], sps["naive"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    return {"device": name, "net": args.net, "parameters": sum(p.numel() for p in model.parameters()),
            "amp": args.amp, "compile": args.compile, "batch_size": args.batch_size, "model_only_sps": model_only,
            "pipeline_sps": pipeline, "stream_sps": sps["stream"], "stream_over_pipeline": sps["stream"] / pipeline,
            "naive_sps": naive, "pipeline_over_model": pipeline / model_only,
            "pipeline_over_naive": pipeline / naive, "model_over_naive": model_only / naive,
            "peak_memory_mb": peak_memory_mb(device)}


def report(f):
    print(f"device: {f['device']}, Network {f['net']} ({f['parameters']:,} parameters), batch {f['batch_size']}, "
          f"amp {f['amp']}{', compiled' if f['compile'] else ''}")
    print(f"{'measurement':<44}{'samples/s':>12}")
    print(f"{'(1) model step on ready tensors':<44}{f['model_only_sps']:>12.0f}")
    print(f"{'(2) full step, our pipeline':<44}{f['pipeline_sps']:>12.0f}")
    print(f"{'(2s) full step, streamed from prepared files':<44}{f['stream_sps']:>12.0f}")
    print(f"{'(3) full step, naive DataLoader pipeline':<44}{f['naive_sps']:>12.0f}")
    print(f"(2)/(1) = {f['pipeline_over_model']:.2f}   (2)/(3) = {f['pipeline_over_naive']:.2f}   "
          f"peak memory {f['peak_memory_mb']:.0f} MB")
    print(f"(1)/(3) = {f['model_over_naive']:.2f}: no pipeline can take (2)/(3) past this here; "
          f"(2s)/(2) = {f['stream_over_pipeline']:.3f}")
    if "collection_prepare_per_s" in f:
        print(collection_summary(f))
    if "full_run_seconds" in f:
        print(f"full run (make train): {f['full_run_epochs']} epochs in {f['full_run_seconds']:.1f}s end to end, "
              f"test ab MSE {f['full_run_test_mse']:.2f}; epochs {f['full_run_epoch_seconds']:.1f}s = steps "
              f"{f['full_run_step_seconds']:.1f}s + per-epoch extras {f['full_run_extras_seconds']:.2f}s "
              f"({100 * f['full_run_extras_share']:.1f}%)")
    for mp in PHOTO_SIZES:
        if f"colorize_{mp}mp_mp_per_s" in f:
            print(f"colorize.py, {mp} MP photo: {f[f'colorize_{mp}mp_mp_per_s']:.2f} MP/s end to end")
    if "colorize_24mp_peak_rss_mb" in f:
        print(f"colorize.py, 24 MP photo: peak RSS {f['colorize_24mp_peak_rss_mb']:.0f} MB")
    if "page_hint_ms_median" in f:
        print(f"web page, {f['page_photo']} photo: opened and colorized in {f['page_open_ms']:.0f} ms; hint to "
              f"updated picture median {f['page_hint_ms_median']:.0f} ms over {len(f['page_hint_ms'])} hints (range "
              f"{min(f['page_hint_ms']):.0f}-{max(f['page_hint_ms']):.0f} ms); temperature change to updated "
              f"picture median {f['page_temperature_ms_median']:.0f} ms over {len(f['page_temperature_ms'])} moves")
    if "load_colorize_p95_ms" in f:
        print(load_summary(f))
    if "video_fps_faces_off" in f:
        print(f"colorize.py, 640x360 film, steady: {f['video_fps_faces_off']:.1f} frames/s with faces off, "
              f"{f['video_fps_faces_on']:.1f} with faces on; peak RSS {f['video_10s_peak_rss_mb']:.0f} MB for 10 s, "
              f"{f['video_60s_peak_rss_mb']:.0f} MB for 60 s")


@guarded
def main(argv=None):
    args = parse_args(argv)
    device = prepare(args)
    keep_freed_memory()
    figures = step_figures(args, device)
    if args.full_run or (args.full_run is None and device.type == "cuda"):
        figures.update(full_run(args, device))
    if args.photos:
        figures.update(photo_figures(device))
    if args.page:
        figures.update(page_figures(device))
    if args.video:
        figures.update(video_figures(device))
    if args.collection:
        figures.update(collection_figures(args, device))
    if args.load:
        from tests.browser import serve_process

        with serve_process("--device", str(device)) as (_, port):
            figures.update(load_figures(port))
    report(figures)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


PHOTO_SIZES = {1: (1224, 816), 12: (4000, 3000)}


def synthetic_photo(path, width, height):
    """A smooth gray JPEG of the given size (noise upsampled), standing in for a scanned photo."""
    small = np.random.default_rng(0).integers(0, 256, (height // 64 + 1, width // 64 + 1), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC))


def photo_figures(device):
    """colorize.py with the default shipped model, each photo in a fresh process of its own, so nothing this
    process has set (its memory settings, its threads) helps: MP/s of a second run in that process (the first
    loads the model and warms up), and peak RSS of a 24 MP run."""
    import subprocess
    import sys
    import tempfile

    here = Path(__file__).parent
    timed = ("import sys, time; from colorize import main; main(sys.argv[1:]); tic = time.perf_counter(); "
             "main(sys.argv[1:]); print(time.perf_counter() - tic)")
    # a fresh parent whose only child is this run, so earlier children (DataLoader workers) do not count
    peak = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for mp, (w, h) in PHOTO_SIZES.items():
            synthetic_photo(tmp / f"{mp}.jpg", w, h)
            run = subprocess.run([sys.executable, "-c", timed, str(tmp / f"{mp}.jpg"), "-o", str(tmp / "out"),
                                  "--overwrite", "--device", str(device)], cwd=here, check=True, capture_output=True,
                                 text=True)
            figures[f"colorize_{mp}mp_mp_per_s"] = w * h / 1e6 / float(run.stdout.split()[-1])
        synthetic_photo(tmp / "24.jpg", 6000, 4000)
        command = [sys.executable, str(here / "colorize.py"), str(tmp / "24.jpg"), "-o", str(tmp / "out"),
                   "--device", str(device)]
        rss = subprocess.run([sys.executable, "-c", peak, *command], check=True, capture_output=True, text=True)
        figures["colorize_24mp_peak_rss_mb"] = int(rss.stdout) / 1024
    return figures


def page_figures(device, hints=20, temperatures=10):
    """The page as a user meets it: a 1 MP photo opened (upload to colour picture shown), the classifier's
    temperature slider moved `temperatures` times, then `hints` hints, each placed by a click and the first
    suggested colour; per change the page's own time from it to the updated picture shown (it stores it on
    <body data-latency>). The server runs in this process, which keeps freed memory as serve.py does."""
    import tempfile

    import skimage.data
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from common.color import gray8, rgb_to_lab
    from common.files import PRETRAINED
    from common.web.app import create_app
    from tests.browser import chromium, served, updates

    width, height = PHOTO_SIZES[1]
    gray = gray8(rgb_to_lab(skimage.data.astronaut())[..., 0])
    with tempfile.TemporaryDirectory() as tmp, served(create_app(PRETRAINED, device)) as url, \
            chromium(Path(tmp) / "profile") as browser:
        photo = Path(tmp) / "photo.jpg"
        cv2.imwrite(str(photo), cv2.resize(gray, (width, height), interpolation=cv2.INTER_CUBIC))
        browser.get(url)
        wait = WebDriverWait(browser, 120)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        tic = time.perf_counter()
        browser.find_element(By.ID, "file").send_keys(str(photo))
        wait.until(lambda d: updates(d) == 1)
        opened = (time.perf_counter() - tic) * 1000
        slider = [page_change(browser, wait, lambda v=value: browser.execute_script(
            "const s = document.getElementById('temperature'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('change'));", float(v))) for value in np.linspace(0.2, 0.8, temperatures)]
        rng = np.random.default_rng(0)
        latencies = [page_change(browser, wait, lambda: pick_suggestion(browser, wait, rng, width, height))
                     for _ in range(hints)]
    return {"page_photo": f"{width}x{height}", "page_open_ms": opened, "page_temperature_ms": slider,
            "page_temperature_ms_median": statistics.median(slider), "page_hint_ms": latencies,
            "page_hint_ms_median": statistics.median(latencies)}


def page_change(browser, wait, action):
    """The page's own ms from a change (`action`) to its updated picture."""
    from tests.browser import updates

    shown = updates(browser)
    action()
    wait.until(lambda d: updates(d) == shown + 1)
    return float(browser.find_element("tag name", "body").get_attribute("data-latency"))


def pick_suggestion(browser, wait, rng, width, height):
    """A click at a random place of the gray picture, then the first suggested colour."""
    from tests.browser import click_photo

    click_photo(browser, "gray", int(rng.integers(width)), int(rng.integers(height)), width, height)
    wait.until(lambda d: d.find_elements("css selector", "#swatches .swatch"))
    browser.find_element("css selector", "#swatches .swatch").click()


def full_run(args, device):
    """`make train` for Network 3 (the report's settings; samples, checkpoints and evaluation included),
    run by the function it runs, with its wall time split into training steps, per-epoch extras (test
    loss, checkpoints, sample figure) and the rest (loading, final evaluation, plots)."""
    import tempfile

    from train_colorizer import main as train_main

    with tempfile.TemporaryDirectory() as out:
        sync(device)
        tic = time.perf_counter()
        train_main(["--data", args.data, "--out", out, "--epochs", str(args.full_run_epochs), "--net", "3",
                    "--seed", str(args.seed), "--device", str(device)])
        sync(device)
        seconds = time.perf_counter() - tic
        result = json.loads((Path(out) / "metrics.json").read_text())
    history, metrics = result["history"], result["metrics"]
    steps, epochs = sum(history["step_seconds"]), metrics["train_seconds"]
    return {"full_run_seconds": seconds, "full_run_epochs": args.full_run_epochs,
            "full_run_step_seconds": steps, "full_run_epoch_seconds": epochs,
            "full_run_extras_seconds": epochs - steps, "full_run_extras_share": (epochs - steps) / epochs,
            "full_run_test_mse": metrics["mse_ab"]}



def load_figures(port, requests=50, uploads=50, hints=10, hint_sets=5):
    """The page's server (serve.py on 127.0.0.1:port) under a burst: `requests` colour requests of a 512x512
    photo with `hints` hints each (one of `hint_sets` sets) and `uploads` uploads, all sent at once. Every colour
    answer must equal the same request's answer alone beforehand and every upload must come back as the photo
    it was; afterwards the server must answer as before. Latencies in ms, from send to the whole answer."""
    import functools
    import json

    import skimage.data

    from common.color import gray8, rgb_to_lab
    from tests.browser import call, multipart

    photo = cv2.imencode(".png", gray8(rgb_to_lab(skimage.data.astronaut())[..., 0]))[1].tobytes()
    rng = np.random.default_rng(0)
    sets = [random_hints(rng, hints, 512) for _ in range(hint_sets)]
    as_json = {"Content-Type": "application/json"}
    key = json.loads(call(port, "POST", "/api/photo", *multipart("astronaut.png", photo))[1])["photo"]
    bodies = [json.dumps({"photo": key, "model": "hints.pt", "hints": h}).encode() for h in sets]
    alone = [call(port, "POST", "/api/colorize", body, as_json) for body in bodies]

    def colour(i):
        return "colorize", call(port, "POST", "/api/colorize", bodies[i % hint_sets], as_json) == alone[i % hint_sets]

    def send(i):
        status, body = call(port, "POST", "/api/photo", *multipart(f"upload{i}.png", photo))
        return "upload", status == 200 and (json.loads(body)["width"], json.loads(body)["height"]) == (512, 512)

    jobs = [functools.partial(colour, i) for i in range(requests)] + [functools.partial(send, i) for i in
                                                                       range(uploads)]
    done, seconds = all_at_once([jobs[i] for i in rng.permutation(len(jobs))])
    after = call(port, "GET", "/api/models")[0] == 200 and call(
        port, "POST", "/api/colorize", bodies[0], as_json) == alone[0]
    figures = {"load_requests": requests, "load_uploads": uploads, "load_seconds": seconds, "load_after_ok": after}
    for kind in ("colorize", "upload"):
        ms = [t for k, t, _ in done if k == kind]
        figures[f"load_{kind}_wrong"] = sum(not ok for k, _, ok in done if k == kind)
        figures[f"load_{kind}_median_ms"] = float(np.median(ms))
        figures[f"load_{kind}_p95_ms"] = float(np.percentile(ms, 95))
    return figures


def video_figures(device):
    """colorize.py on films made by common/clips.py (a camera moving over the astronaut, gray, 25 frames/s) in
    fresh processes: frames/s of a 10 s clip with faces off and on (its second run, as for photos), and the peak
    RSS of a 10 s and a 60 s clip, which streaming keeps equal."""
    import subprocess
    import sys
    import tempfile

    import skimage.data

    from common.clips import camera_move, write_video

    frames = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
              for f in camera_move(skimage.data.astronaut(), 250).frames]
    timed = ("import sys, time; from colorize import main; main(sys.argv[1:]); tic = time.perf_counter(); "
             "main(sys.argv[1:]); print(time.perf_counter() - tic)")
    peak = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    figures, here = {}, Path(__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_video(tmp / "10s.mp4", frames)
        write_video(tmp / "60s.mp4", frames * 6)
        for faces in ("off", "auto"):
            run = subprocess.run([sys.executable, "-c", timed, str(tmp / "10s.mp4"), "-o", str(tmp / "out"),
                                  "--overwrite", "--faces", faces, "--device", str(device)], cwd=here, check=True,
                                 capture_output=True, text=True)
            figures[f"video_fps_faces_{'off' if faces == 'off' else 'on'}"] = 250 / float(run.stdout.split()[-1])
        for clip in ("10s", "60s"):
            command = [sys.executable, str(here / "colorize.py"), str(tmp / f"{clip}.mp4"), "-o", str(tmp / "out"),
                       "--overwrite", "--faces", "off", "--device", str(device)]
            rss = subprocess.run([sys.executable, "-c", peak, *command], check=True, capture_output=True, text=True)
            figures[f"video_{clip}_peak_rss_mb"] = int(rss.stdout) / 1024
    return figures


RATE_PHOTOS = 2000  # photos prepared for the preparation rate, three times over with each worker count


def run_collection(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, *map(str, args)], cwd=Path(__file__).parent, check=True,
                          capture_output=True, text=True)


def collection(args, count):
    """A split of the first `count` made-up photos (hard links into one folder of the largest collection)."""
    from common.made_photos import make_photos

    root = Path(args.collection_dir)
    photos = make_photos(args.collection_src, root / "photos", max(args.collection))
    folder = root / f"photos-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos[:count]:
        if not (folder / photo.name).exists():
            os.link(photo, folder / photo.name)
    return folder, root / f"split-{count}"


def preparation_rate(args, workers):
    """Median photos/s of split_data.py preparing RATE_PHOTOS photos at 128 px from scratch, over three runs."""
    import shutil

    folder, split = collection(args, RATE_PHOTOS)
    rates = []
    for _ in range(3):
        shutil.rmtree(split, ignore_errors=True)
        tic = time.perf_counter()
        run_collection("split_data.py", "--src", folder, "--out", split, "--workers", workers)
        rates.append(RATE_PHOTOS / (time.perf_counter() - tic))
    return statistics.median(rates)


def first_step_seconds(split, device):
    """Seconds from launching train_colorizer.py on a prepared split to its first step, median of three."""
    import subprocess
    import sys
    import tempfile

    seconds = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as out:
            tic = time.perf_counter()
            run = subprocess.Popen([sys.executable, "train_colorizer.py", "--data", str(split), "--out", out,
                                    "--epochs", "1", "--device", str(device)], cwd=Path(__file__).parent,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for line in run.stdout:
                if line.startswith("first step"):
                    seconds.append(time.perf_counter() - tic)
                    break
            run.terminate()
            run.wait()
    return statistics.median(seconds)


def anonymous_mb(pid):
    """RssAnon of a process and all its descendants, in MB (Linux /proc)."""
    total, family = 0, [pid]
    while family:
        pid = family.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in status.splitlines() if line.startswith("RssAnon:"))  # 0: a zombie
        family += map(int, children)
    return total / 1024


def peak_anonymous_mb(split, size, device):
    """Peak summed RssAnon of a whole 1-epoch Network 3 run at `size` (one sample per photo), sampled every 0.2 s."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        run = subprocess.Popen([sys.executable, "train_colorizer.py", "--data", str(split), "--out", out, "--epochs",
                                "1", "--augment", "1", "--size", str(size), "--device", str(device)],
                               cwd=Path(__file__).parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0.0
        while run.poll() is None:
            peak = max(peak, anonymous_mb(run.pid))
            time.sleep(0.2)
        if run.returncode:
            raise RuntimeError(f"training on {split} failed ({run.returncode})")
    return peak


def collection_figures(args, device):
    """Training on made-up photo collections: preparation rate with one worker and with every core, seconds to
    the first step on the largest collection prepared at 128 px, and the peak anonymous memory of a 1-epoch run
    at 256 px for each size."""
    import shutil

    figures = {"collection_prepare_workers": default_workers(),
               "collection_prepare_per_s": preparation_rate(args, default_workers()),
               "collection_prepare_one_worker_per_s": preparation_rate(args, 1)}
    for count in sorted(args.collection):
        folder, split = collection(args, count)
        shutil.rmtree(split, ignore_errors=True)
        for size in (128, 256):
            tic = time.perf_counter()
            run_collection("split_data.py", "--src", folder, "--out", split, "--size", size)
            figures[f"collection_{count}_prepare_{size}_seconds"] = time.perf_counter() - tic
        figures[f"collection_{count}_anon_256_mb"] = peak_anonymous_mb(split, 256, device)
    largest = max(args.collection)
    figures["collection_first_step_seconds"] = first_step_seconds(collection(args, largest)[1], device)
    figures["collection_counts"] = sorted(args.collection)
    return figures


def collection_summary(f):
    lines = [f"preparing photos (500x375 JPEGs, 128 px): {f['collection_prepare_per_s']:.0f} photos/s with "
             f"{f['collection_prepare_workers']} workers, {f['collection_prepare_one_worker_per_s']:.0f} with one; "
             f"first step {f['collection_first_step_seconds']:.1f}s after launching train_colorizer.py on "
             f"{max(f['collection_counts']):,} prepared photos"]
    for count in f["collection_counts"]:
        lines.append(f"  {count:,} photos: a 1-epoch run at 256 px peaks at {f[f'collection_{count}_anon_256_mb']:.0f} "
                     f"MB anonymous memory (all processes)")
    return "\n".join(lines)


def random_hints(rng, count, side):
    """`count` hints of random colours at random pixels of a side x side photo, as the page sends them."""
    return [{"x": int(x), "y": int(y), "colour": f"#{int(c):06x}"} for x, y, c in
            zip(*rng.integers(0, side, (2, count)), rng.integers(0, 2**24, count))]


def all_at_once(jobs):
    """Each job (-> (kind, ok)) on a thread of its own, all started together: (kind, ms to its answer, ok) for
    each, and the seconds until the last answer."""
    from concurrent.futures import ThreadPoolExecutor

    def timed(job):
        tic = time.perf_counter()
        kind, ok = job()
        return kind, (time.perf_counter() - tic) * 1000, ok

    tic = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        done = list(pool.map(timed, jobs))
    return done, time.perf_counter() - tic


def load_summary(f):
    return (f"page server under load: {f['load_requests']} colour requests with hints and {f['load_uploads']} uploads "
            f"at once, answered in {f['load_seconds']:.1f} s; colour p95 {f['load_colorize_p95_ms']:.0f} ms (median "
            f"{f['load_colorize_median_ms']:.0f}), upload p95 {f['load_upload_p95_ms']:.0f} ms (median "
            f"{f['load_upload_median_ms']:.0f}); wrong answers {f['load_colorize_wrong'] + f['load_upload_wrong']}; "
            f"{'answering normally' if f['load_after_ok'] else 'NOT answering normally'} afterwards")


if __name__ == "__main__":
    main()
