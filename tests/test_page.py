"""The web page of `make serve`: its API through Starlette's test client, and the page itself in a real
headless Chromium (Debian's chromium and chromium-driver, installed by `make setup-browser`)."""
import io
import json
import os
import socket
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from starlette.testclient import TestClient

from colorize import main as colorize_main
from common.checkpoint import load_model
from common.color import gray8, rgb_to_lab
from common.faces import find_faces, load_framing
from common.hints import colour_ab
from common.images import read_image, upsample
from common.inference import colorize, lightness, predict, shrink
from common.web.app import create_app
from serve import main as serve_main
from tests.browser import chromium, click_photo, installed, served, updates
from tests.conftest import ROOT

PRETRAINED = ROOT / "pretrained"
CPU = torch.device("cpu")
GREEN = "#1ea03c"
LOCAL = "http://127.0.0.1:8000"  # the address the test client's requests name, one the app answers to


def png(img):
    ok, data = cv2.imencode(".png", img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return data.tobytes()


def gray_astronaut():
    """scikit-image's astronaut as a black-and-white photo (its L), 512x512."""
    import skimage.data

    return gray8(rgb_to_lab(skimage.data.astronaut())[..., 0])


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(PRETRAINED, CPU), base_url=LOCAL) as c:
        yield c


def upload(client, data, name="photo.png"):
    return client.post("/api/photo", files={"photo": (name, io.BytesIO(data), "application/octet-stream")})


def picture(response):
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_upload_then_download_gives_a_png_of_the_photos_size(client):
    photo = cv2.resize(gray_astronaut(), (700, 450))
    sent = upload(client, png(photo)).json()
    assert (sent["width"], sent["height"]) == (700, 450)
    result = client.post("/api/download", json={"photo": sent["photo"], "model": "classifier.pt"})
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert result.content[:8] == b"\x89PNG\r\n\x1a\n" and "photo_color.png" in result.headers["content-disposition"]
    colour = picture(result)
    assert colour.shape == (450, 700, 3)
    assert np.abs(lightness(colour) - lightness(photo)).max() <= 1.0  # the photo's own L, as colorize.py keeps it
    assert client.get(sent["gray"]).headers["content-type"] == "image/jpeg"


def test_a_hint_pulls_the_colour_at_its_pixel_toward_it(client):
    key = upload(client, png(gray_astronaut())).json()["photo"]
    target = colour_ab([(30, 160, 60)])[0]
    near = np.s_[394:407, 94:107]
    ab = {}
    for label, hints in (("without", []), ("with", [{"x": 100, "y": 400, "colour": GREEN}])):
        response = client.post("/api/colorize", json={"photo": key, "model": "hints.pt", "hints": hints})
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        ab[label] = rgb_to_lab(picture(response))[near][..., 1:].mean(axis=(0, 1))
    assert np.linalg.norm(ab["with"] - target) < 0.65 * np.linalg.norm(ab["without"] - target)
    hue = np.degrees(np.arctan2(ab["with"][1], ab["with"][0]) - np.arctan2(target[1], target[0]))
    assert abs((hue + 180) % 360 - 180) < 15


def test_suggested_colours_come_from_the_classifiers_distribution(client):
    photo = gray_astronaut()
    key = upload(client, png(photo)).json()["photo"]
    model, _ = load_model(PRETRAINED / "classifier.pt", CPU)
    logits, _ = predict(model, [shrink(lightness(photo), 128)], CPU)
    for x, y in ((100, 400), (250, 150), (20, 500)):
        found = client.get("/api/suggest", params={"photo": key, "x": x, "y": y, "model": "classifier.pt"}).json()
        suggestions = found["suggestions"]
        cell = logits[0, :, y * logits.shape[2] // 512, x * logits.shape[3] // 512]
        assert suggestions[0]["bin"] == int(cell.argmax())
        probabilities = [s["probability"] for s in suggestions]
        assert probabilities == sorted(probabilities, reverse=True) and len(suggestions) == 6
        assert all(s["colour"].startswith("#") and len(s["colour"]) == 7 for s in suggestions)
    refused = client.get("/api/suggest", params={"photo": key, "x": 5, "y": 5, "model": "network3.pt"})
    assert refused.status_code == 400 and "not a classification model" in refused.json()["error"]


def test_bad_uploads_and_requests_get_a_4xx_with_a_message(client):
    header = bytearray(png(np.zeros((8, 8, 3), np.uint8)))
    header[16:24] = struct.pack(">II", 60000, 60000)  # a PNG whose header claims 3600 MP
    header[29:33] = struct.pack(">I", zlib.crc32(bytes(header[12:29])))
    truncated = cv2.imencode(".jpg", gray_astronaut())[1].tobytes()[:3000]
    cases = {"corrupt.jpg": (truncated, 422, "corrupt.jpg"), "huge.png": (bytes(header), 413, "--max-pixels"),
             "notes.png": (b"these are not pixels", 422, "notes.png"), "notes.txt": (b"hello", 415, "notes.txt"),
             "empty.png": (b"", 400, "empty")}
    for name, (data, status, words) in cases.items():
        response = upload(client, data, name)
        assert response.status_code == status and words in response.json()["error"], name
        assert "Traceback" not in response.text and "/tmp/" not in response.json()["error"]
    key = upload(client, png(gray_astronaut())).json()["photo"]
    for body, words in (({"photo": "gone"}, "no longer held"), ({"photo": key, "model": "nope.pt"}, "no model"),
                        ({"photo": key, "model": "network3.pt", "hints": [{"x": 1, "y": 1, "colour": "red"}]},
                         "takes no colour hints"),
                        ({"photo": key, "model": "hints.pt", "hints": [{"x": 900, "y": 1, "colour": "red"}]},
                         "outside the photo"),
                        ({"photo": key, "model": "hints.pt", "hints": [{"x": 1, "y": 1, "colour": "blu"}]},
                         "unknown colour")):
        response = client.post("/api/colorize", json=body)
        assert 400 <= response.status_code < 500 and words in response.json()["error"], body
    as_json = {"Content-Type": "application/json"}
    assert client.post("/api/colorize", content=b"{not json", headers=as_json).status_code == 400
    assert client.post("/api/colorize", content=b'{"photo": "x"}').status_code == 415  # JSON only as JSON
    for t in ('"hot"', "NaN", "Infinity", "-0.5", "2", "true"):  # JSON as Python reads it, NaN and all
        content = f'{{"photo": "{key}", "model": "classifier.pt", "temperature": {t}}}'
        answer = client.post("/api/colorize", headers=as_json, content=content)
        assert answer.status_code == 400 and "not a number from 0 to 1" in answer.json()["error"], t


def test_requests_that_used_to_break_the_server_get_a_4xx_or_work(client):
    key = upload(client, png(gray_astronaut())).json()["photo"]
    for body, words in (({"photo": ["a"]}, "photo"), ({"photo": {"a": 1}}, "photo"), ({"photo": None}, "photo"),
                        ({"photo": key, "model": ["x"]}, "no model"), ({"photo": key, "hints": "red"}, "not a list"),
                        ({"photo": key, "hints": [5]}, "bad hint"), ({"photo": key, "hints": [{"x": 1}]}, "bad hint"),
                        ({"photo": key, "model": "hints.pt", "hints": [{"x": 1, "y": 1, "colour": 7}]}, "colour")):
        response = client.post("/api/colorize", json=body)
        assert 400 <= response.status_code < 500 and words in response.json()["error"], body
    infinite = client.post("/api/colorize", headers={"Content-Type": "application/json"},
                           content=f'{{"photo": "{key}", "hints": [{{"x": 1e999, "y": 1, "colour": "red"}}]}}')
    assert infinite.status_code == 400 and "bad hint" in infinite.json()["error"]
    long_colour = {"photo": key, "model": "hints.pt", "hints": [{"x": 1, "y": 1, "colour": "r" * 100_000}]}
    response = client.post("/api/colorize", json=long_colour)
    assert response.status_code == 400 and len(response.text) < 300  # refused without echoing it back
    response = client.post("/api/colorize", json={**long_colour, "hints": long_colour["hints"] * 10})
    assert response.status_code == 413 and "larger than this server takes" in response.json()["error"]
    unnamed = client.post("/api/colorize", json={"photo": key, "hints": [{"x": 1, "y": 1, "colour": "red"}]})
    assert unnamed.status_code == 400 and unnamed.json()["error"].startswith("unet_ensemble.pt takes no colour hints")
    thin = upload(client, png(np.full((20000, 1), 120, np.uint8)), "thin.png").json()
    assert (thin["preview_width"], thin["preview_height"]) == (1, 1280)
    for body in ({"photo": thin["photo"]}, {"photo": thin["photo"], "model": "hints.pt",
                                             "hints": [{"x": 0, "y": 19999, "colour": "red"}]}):
        assert picture(client.post("/api/colorize", json=body)).shape == (1280, 1, 3)
    assert picture(client.post("/api/download", json={"photo": thin["photo"]})).shape == (20000, 1, 3)


def test_downloads_of_photos_named_in_any_script_keep_their_names(client):
    from urllib.parse import unquote

    for name in ("Бабушка 1952.png", "祖母.png", "l'été; 1952.png"):
        key = upload(client, png(gray_astronaut()[:64, :64]), name).json()["photo"]
        for url, suffix in (("/api/download", "_color.png"), ("/api/hints-picture", "_hints.png")):
            response = client.post(url, json={"photo": key})
            assert response.status_code == 200, (name, url)
            header = response.headers["content-disposition"]
            assert unquote(header.split("filename*=UTF-8''")[1]) == Path(name).stem + suffix
            assert header.isascii() and header.count('"') == 2


def test_a_hundred_thousand_hints_are_refused_before_any_is_read(client, monkeypatch):
    import common.web.app as server

    read = []
    monkeypatch.setattr(server, "parse_point", lambda text: read.append(text))
    key = upload(client, png(gray_astronaut())).json()["photo"]
    hints = [{"x": 1, "y": 1, "colour": "red"}] * 100_000
    response = client.post("/api/colorize", content=json.dumps({"photo": key, "model": "hints.pt", "hints": hints}),
                           headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 413) and not read
    response = client.post("/api/colorize", json={"photo": key, "model": "hints.pt",
                                                  "hints": hints[:server.MAX_HINTS + 1]})
    assert response.status_code == 400 and f"at most {server.MAX_HINTS}" in response.json()["error"] and not read


def test_the_server_answers_only_its_own_host_and_its_own_page(client):
    key = upload(client, png(gray_astronaut()[:64, :64])).json()["photo"]
    body = json.dumps({"photo": key}).encode()
    as_json = {"Content-Type": "application/json"}
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.:8000"):
        refused = client.get("/api/models", headers={"Host": host})
        assert refused.status_code == 403 and "--allow-host" in refused.json()["error"], host
    for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
        assert client.get("/api/models", headers={"Host": host}).status_code == 200, host
    for origin in ("http://evil.example", "http://127.0.0.1:9999", "null", "https://127.0.0.1:8000"):
        refused = client.post("/api/colorize", content=body, headers={**as_json, "Origin": origin})
        assert refused.status_code == 403 and "may not use this server" in refused.json()["error"], origin
        sent = client.post("/api/photo", files={"photo": ("x.png", png(gray_astronaut()[:8, :8]))},
                           headers={"Origin": origin})
        assert sent.status_code == 403, origin
    cross_site = client.post("/api/colorize", content=body, headers={**as_json, "Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    same = client.post("/api/colorize", content=body, headers={**as_json, "Origin": LOCAL, "Sec-Fetch-Site":
                                                               "same-origin"})
    assert same.status_code == 200
    with TestClient(create_app(PRETRAINED, CPU, hosts=("127.0.0.1", "studio.lan")), base_url=LOCAL) as other:
        assert other.get("/api/models", headers={"Host": "studio.lan:8000"}).status_code == 200
        assert other.get("/api/models", headers={"Host": "localhost"}).status_code == 403


def test_uploads_are_cut_at_the_limit_while_they_arrive():
    with TestClient(create_app(PRETRAINED, CPU, max_upload=2**20), base_url=LOCAL) as small:
        fits = png(cv2.resize(gray_astronaut(), (256, 256)))
        assert small.post("/api/photo", files={"photo": ("a.png", fits)}).status_code == 200
        declared = small.post("/api/photo", files={"photo": ("big.png", bytes(2 * 2**20))})
        assert declared.status_code == 413 and "larger than this server takes (1 MB)" in declared.json()["error"]
        streamed = small.post("/api/photo", content=(bytes(64 * 2**10) for _ in range(64)),
                              headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert streamed.status_code == 413  # no Content-Length: counted (test_serve.py streams to a real server)


def test_the_places_to_click_are_where_the_classifier_is_least_sure(client):
    photo = gray_astronaut()
    key = upload(client, png(photo)).json()["photo"]
    places = client.get("/api/places", params={"photo": key, "model": "classifier.pt"}).json()["places"]
    assert 3 <= len(places) <= 5 and all(0 <= p["x"] < 512 and 0 <= p["y"] < 512 for p in places)
    model, _ = load_model(PRETRAINED / "classifier.pt", CPU)
    logits, _ = predict(model, [shrink(lightness(photo), 128)], CPU)
    entropy = upsample((model.entropy(logits)[0] / np.log(model.bins)).numpy(), (512, 512))
    assert all(entropy[p["y"], p["x"]] > np.median(entropy) for p in places)
    refused = client.get("/api/places", params={"photo": key, "model": "network3.pt"})
    assert refused.status_code == 400 and "not a classification model" in refused.json()["error"]


def test_concurrent_requests_share_the_models_and_match_serial_ones(client):
    key = upload(client, png(gray_astronaut())).json()["photo"]
    bodies = [{"photo": key, "model": "classifier.pt", "temperature": t} for t in (0.1, 1.0)] * 3
    serial = [client.post("/api/colorize", json=b).content for b in bodies[:2]]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda b: client.post("/api/colorize", json=b).content, bodies))
    assert serial[0] != serial[1]  # the temperature matters...
    assert together == serial * 3  # ...and no request's temperature leaks into another's forward pass
    listed = client.get("/api/models").json()
    own = {m["name"]: m["temperature"] for m in listed["models"] if m["classifier"]}
    assert own == {"classifier.pt": 0.38, "unet_classifier.pt": 0.55}  # the page offers each model's own temperature
    assert (listed["default"], listed["unsure"]) == ("unet_ensemble.pt", "unet_classifier.pt")  # colorize.py's two


def test_the_page_looks_for_faces_in_a_preview_once_and_colours_it_as_colorize_does(client, monkeypatch):
    import common.web.app as server

    looked = []
    monkeypatch.setattr(server, "find_faces", lambda *args: looked.append(args) or find_faces(*args))
    photo = gray_astronaut()
    key = upload(client, png(photo)).json()["photo"]
    answers = [client.post("/api/colorize", json={"photo": key, "model": "classifier.pt", "temperature": t}).content
               for t in (0.38, 0.2, 0.38)]
    assert len(looked) == 1 and answers[0] == answers[2] != answers[1]
    classifier = load_model(PRETRAINED / "classifier.pt", CPU)[0]
    expected = colorize(classifier, [photo], 128, CPU, faces=(load_framing(), server.FACES_MIN_SIZE))[0]
    assert expected.faces == 1 and server.jpeg(expected.rgb) == answers[0]


def test_a_confidence_map_is_colorize_pys_and_colours_nothing(client, monkeypatch):
    import common.inference as inference
    import common.web.app as server

    def refuse(*args, **kwargs):
        raise AssertionError("a confidence map needs neither the faces nor the colour picture")

    passes = []

    def counted(*args, **kwargs):
        passes.append(args[0])
        return predict(*args, **kwargs)

    monkeypatch.setattr(server, "find_faces", refuse)
    monkeypatch.setattr(server, "colorize_later", refuse)
    monkeypatch.setattr(server, "predict", counted)
    monkeypatch.setattr(inference, "predict", counted)
    photo = gray_astronaut()
    key = upload(client, png(photo)).json()["photo"]
    body = {"photo": key, "model": "unet_classifier.pt", "confidence": True}
    answers = [client.post("/api/colorize", json={**body, "temperature": t}) for t in (0.55, 0.2)]
    assert all(a.status_code == 200 for a in answers)
    client.get("/api/places", params={"photo": key, "model": "unet_classifier.pt"})
    assert len(passes) == 1  # the map does not hang on the temperature: one forward pass serves it and the places
    classifier = load_model(PRETRAINED / "unet_classifier.pt", CPU)[0]
    expected = colorize(classifier, [photo], 128, CPU, confidence=True)[0].confidence
    assert answers[0].content == answers[1].content == server.jpeg(server.heat_map(expected))


def test_the_hints_saved_on_the_page_replay_on_the_command_line(client, tmp_path):
    photo = cv2.resize(gray_astronaut(), (600, 400))
    (tmp_path / "photo.png").write_bytes(png(photo))
    key = upload(client, png(photo), "photo.png").json()["photo"]
    hints = [{"x": 100, "y": 300, "colour": GREEN}, {"x": 420, "y": 80, "colour": "skyblue"}]
    saved = client.post("/api/hints-picture", json={"photo": key, "hints": hints})
    assert "photo_hints.png" in saved.headers["content-disposition"]
    (tmp_path / "photo_hints.png").write_bytes(saved.content)
    page = client.post("/api/download", json={"photo": key, "model": "hints.pt", "hints": hints})
    (tmp_path / "page.png").write_bytes(page.content)
    plain = picture(client.post("/api/download", json={"photo": key, "model": "hints.pt"}))
    colorize_main([str(tmp_path / "photo.png"), "-o", str(tmp_path / "cli"), "--hints",
                   str(tmp_path / "photo_hints.png")])
    on_page, replayed = (read_image(tmp_path / name).astype(int) for name in ("page.png", "cli/photo_color.png"))
    # one road from L to colour; a CI run once saw the two differ, so a difference is measured, not just flagged:
    # at most a rounding step on a few pixels, while the hints move over a quarter of the picture by 10+ levels
    moved = (np.abs(on_page - plain).max(axis=2) > 10).sum()
    off = np.abs(on_page - replayed).max(axis=2)
    assert moved > 60000 and off.max() <= 1 and (off > 0).sum() <= 100, (moved, off.max(), (off > 0).sum())


def test_serve_refuses_a_port_in_use_in_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as e:
            serve_main(["--port", str(port)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1


needs_browser = pytest.mark.skipif(
    not installed() and not os.environ.get("REQUIRE_BROWSER"),
    reason="Debian's chromium and chromium-driver are not installed (make setup-browser)")


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "profile") as driver:
        yield driver


def screenshot(driver, name):
    """The page as it looks now, into $PAGE_SCREENSHOTS (for docs/) or a temporary folder."""
    import tempfile

    shot = Path(os.environ.get("PAGE_SCREENSHOTS") or tempfile.mkdtemp()) / name
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def result_pixels(driver, x, y, radius):
    """The page's own result picture, read back through a canvas: mean RGB around photo pixel (x, y)."""
    return np.array(driver.execute_script("""
        const img = document.getElementById('result'), [x, y, r] = arguments;
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const context = canvas.getContext('2d');
        context.drawImage(img, 0, 0);
        const data = context.getImageData(x - r, y - r, 2 * r + 1, 2 * r + 1).data, sum = [0, 0, 0];
        for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
        return sum.map((s) => s / (data.length / 4));""", x, y, radius))


@needs_browser
@pytest.mark.slow
def test_the_page_in_chromium_takes_a_photo_a_click_and_a_colour(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    photo, notes = tmp_path / "astronaut_gray.png", tmp_path / "notes.txt"
    photo.write_bytes(png(gray_astronaut()))
    notes.write_text("not a photo")
    target = colour_ab([(0x1E, 0xA0, 0x3C)])[0]

    def marker_at():
        title = browser.find_element(By.CSS_SELECTOR, "#result-stage .marker").get_attribute("title")
        return np.array([int(v) for v in title.split(" at ")[1].split(":")[0].split(",")])

    def ab_near_click():
        rgb = result_pixels(browser, 100, 400, 6)
        return rgb_to_lab(np.array([[rgb]], np.float32) / 255)[0, 0, 1:]

    with served(create_app(PRETRAINED, CPU)) as address:
        browser.get(address)
        wait = WebDriverWait(browser, 60)
        shown = [0]

        def then_updated(action):
            action()
            shown[0] += 1
            wait.until(lambda d: updates(d) == shown[0])

        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        assert browser.find_element(By.ID, "empty").is_displayed()  # the first screen: where to drop a photo...
        assert "Drop a black-and-white photo here" in browser.find_element(By.ID, "empty").text
        assert not browser.find_element(By.ID, "gray").is_displayed()  # ...and no broken pictures
        assert not browser.find_element(By.ID, "result").is_displayed()
        labels = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#model option")]
        assert "Vivid colours (Network 3 classifier) - classifier.pt" in labels and len(labels) == 7
        assert "Calm colours (U-Net) - unet.pt" in labels
        assert browser.find_element(By.ID, "model").get_attribute("value") == "unet_ensemble.pt"  # the default
        assert "Most accurate (U-Net and U-Net classifier, averaged) - unet_ensemble.pt" in labels
        assert "Vivid colours (U-Net classifier) - unet_classifier.pt" in labels
        assert not browser.find_element(By.ID, "temperature-box").is_displayed()  # no bins of its own
        screenshot(browser, "page_empty.png")
        browser.find_element(By.ID, "file").send_keys(str(notes))
        wait.until(lambda d: d.find_element(By.ID, "error").is_displayed())
        assert "notes.txt: not a picture" in browser.find_element(By.ID, "error").text
        then_updated(lambda: browser.find_element(By.ID, "file").send_keys(str(photo)))
        assert not browser.find_element(By.ID, "error").is_displayed()
        assert not browser.find_element(By.ID, "empty").is_displayed()
        browser.find_element(By.ID, "file").send_keys(str(notes))
        wait.until(lambda d: d.find_element(By.ID, "error").is_displayed())
        assert "Could not open notes.txt; still showing astronaut_gray.png" in browser.find_element(By.ID,
                                                                                                   "status").text
        then_updated(lambda: browser.find_element(By.ID, "confidence").click())  # the default has no bins...
        assert browser.find_element(By.ID, "overlay").is_displayed()  # ...so the first classifier's map is shown
        assert "under unet_classifier.pt's confidence map" in browser.find_element(By.ID, "result-caption").text
        then_updated(lambda: browser.find_element(By.ID, "confidence").click())
        assert not browser.find_element(By.ID, "overlay").is_displayed()
        then_updated(lambda: Select(browser.find_element(By.ID, "model")).select_by_value("unet.pt"))
        assert not browser.find_element(By.ID, "temperature-box").is_displayed()  # a regression model has none
        then_updated(lambda: Select(browser.find_element(By.ID, "model")).select_by_value("classifier.pt"))
        assert "bolder" in browser.find_element(By.ID, "temperature-box").text
        before = ab_near_click()
        then_updated(lambda: browser.find_element(By.ID, "confidence").click())
        assert browser.find_element(By.ID, "overlay").is_displayed()  # the classifier's entropy over the result
        assert "under its confidence map" in browser.find_element(By.ID, "result-caption").text
        then_updated(lambda: browser.find_element(By.ID, "confidence").click())
        assert not browser.find_element(By.ID, "overlay").is_displayed()
        browser.find_element(By.ID, "places").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#gray-stage .place"))
        assert 3 <= len(browser.find_elements(By.CSS_SELECTOR, "#gray-stage .place")) <= 5
        screenshot(browser, "page_places.png")
        click_photo(browser, "result", 100, 400, 512, 512)
        wait.until(lambda d: d.find_element(By.ID, "picker").is_displayed()
                   and d.find_elements(By.CSS_SELECTOR, "#swatches .swatch"))
        share = browser.find_element(By.CSS_SELECTOR, "#swatches .swatch .share")
        assert share.text.endswith("%") and int(share.value_of_css_property("font-size")[:-2]) >= 12
        assert share.value_of_css_property("color") in ("rgba(17, 17, 17, 1)", "rgb(17, 17, 17)")  # dark on white
        screenshot(browser, "page_suggestions.png")
        browser.find_element(By.ID, "free-text").send_keys(GREEN)
        then_updated(lambda: browser.find_element(By.ID, "use-free").click())
        after = ab_near_click()
        assert browser.find_element(By.ID, "model").get_attribute("value") == "hints.pt"  # switched to take hints
        markers = browser.find_elements(By.CSS_SELECTOR, "#result-stage .marker")
        assert len(markers) == 1 and np.abs(marker_at() - (100, 400)).max() <= 1  # where the click was
        assert np.linalg.norm(after - target) < 0.65 * np.linalg.norm(before - target)
        hue = np.degrees(np.arctan2(after[1], after[0]) - np.arctan2(target[1], target[0]))
        assert abs((hue + 180) % 360 - 180) < 15  # the chosen hue; its chroma comes about half way
        screenshot(browser, "page.png")
        then_updated(lambda: ActionChains(browser).drag_and_drop_by_offset(markers[0], 300, -300).perform())
        assert np.abs(marker_at() - (100, 400)).min() > 200  # off the suit, onto the sky: the suit lets go of it
        assert np.linalg.norm(ab_near_click() - target) > np.linalg.norm(after - target)
        then_updated(lambda: browser.find_element(By.ID, "undo").click())
        assert np.abs(marker_at() - (100, 400)).max() <= 1
        then_updated(lambda: browser.find_element(By.ID, "undo").click())
        assert not browser.find_elements(By.CSS_SELECTOR, "#result-stage .marker")
        assert np.linalg.norm(ab_near_click() - target) > 1.5 * np.linalg.norm(after - target)


def test_serve_warns_when_the_network_can_reach_it_and_prints_the_address(monkeypatch, capsys):
    import uvicorn

    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **settings: ran.append((host, port)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve_main(["--host", "0.0.0.0", "--port", str(port), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert ran == [("0.0.0.0", port)] and "anyone who can reach this machine" in err
    assert f"open http://127.0.0.1:{port}/" in out
    serve_main(["--port", str(port), "--device", "cpu"])
    assert "warning" not in capsys.readouterr().err and ran[-1] == ("127.0.0.1", port)
