"""The page in a real browser, for its test and its latency benchmark: the app served by uvicorn on
127.0.0.1 in a thread, or serve.py as a process of its own, and Debian's headless Chromium driven by Selenium
(`make setup-browser`)."""
import contextlib
import http.client
import shutil
import socket
import subprocess
import sys
import threading
import time

from common.files import REPOSITORY

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,900")


def installed():
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(app):
    """The app's address while it is served on a free port of 127.0.0.1."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the page's server did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def chromium(profile):
    """A headless Chromium with a fresh profile folder; no network beyond what the page asks for."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def updates(driver):
    """How many pictures the page has shown (it counts them on <body data-updates>)."""
    return int(driver.find_element("tag name", "body").get_attribute("data-updates") or 0)


def click_photo(driver, element_id, x, y, width, height):
    """Click pixel (x, y) of a photo of width x height shown in the page's <img id=element_id>."""
    from selenium.webdriver.common.action_chains import ActionChains

    img = driver.find_element("id", element_id)
    size = img.size
    ActionChains(driver).move_to_element_with_offset(
        img, ((x + 0.5) / width - 0.5) * size["width"], ((y + 0.5) / height - 0.5) * size["height"]).click().perform()


@contextlib.contextmanager
def serve_process(*flags, start_seconds=120):
    """serve.py started as users start it, on a free port of 127.0.0.1: (process, port) once it listens; killed
    afterwards if it still runs."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "serve.py", "--port", str(port), *flags], cwd=REPOSITORY,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + start_seconds
        while not listening(port):
            if process.poll() is not None:
                raise RuntimeError(f"serve.py ended: {process.stderr.read().decode().strip()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve.py did not listen on 127.0.0.1:{port} within {start_seconds} s")
            time.sleep(0.1)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()


def listening(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def call(port, method, url, body=None, headers=None, timeout=300):
    """(status, body) of one request to 127.0.0.1:port on a connection of its own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, url, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def multipart(name, data, boundary="colorize-upload"):
    """(body, headers) of a form upload of one file as the page sends it."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), {
        "Content-Type": f"multipart/form-data; boundary={boundary}"}
