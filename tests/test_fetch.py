import hashlib
import http.server
import random
import tarfile
import threading

import pytest

from fetch_data import main as fetch_main
from tests.conftest import REAL_DATA


@pytest.fixture
def mirror(tmp_path):
    src = tmp_path / "mirror"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.jpg").write_bytes(bytes([i]) * 100)
    manifest = tmp_path / "sums"
    manifest.write_text("".join(f"{hashlib.sha256((src / f'f{i}.jpg').read_bytes()).hexdigest()}  f{i}.jpg\n"
                                for i in range(3)))
    return src, manifest


def test_download_verifies_every_file(mirror, tmp_path):
    src, manifest = mirror
    out = tmp_path / "data" / "faces"
    fetch_main(["--url", src.as_uri(), "--manifest", str(manifest), "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["f0.jpg", "f1.jpg", "f2.jpg"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["faces"]


def test_a_bad_file_never_reaches_out_and_the_verified_ones_wait_for_a_rerun(mirror, tmp_path, capsys):
    src, manifest = mirror
    good = (src / "f1.jpg").read_bytes()
    (src / "f1.jpg").write_bytes(b"tampered")
    out = tmp_path / "data" / "faces"
    fetch = ["--url", src.as_uri(), "--manifest", str(manifest), "--out", str(out), "--backoff", "0"]
    with pytest.raises(SystemExit):
        fetch_main(fetch)
    err = capsys.readouterr().err
    assert "f1.jpg: SHA-256 does not match" in err and "continues from there" in err
    partial = tmp_path / "data" / ".faces.partial"
    assert not out.exists() and sorted(p.name for p in partial.iterdir()) == ["f0.jpg", "f2.jpg"]
    (src / "f1.jpg").unlink()
    with pytest.raises(SystemExit):
        fetch_main(fetch)
    assert "f1.jpg" in capsys.readouterr().err and not out.exists()
    (src / "f1.jpg").write_bytes(good)
    fetch_main(fetch)
    assert "1 files downloaded, 2 kept from an earlier run" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["faces"]


class FlakyMirror(http.server.BaseHTTPRequestHandler):
    """Serves `files`; each file's first requests fail in turn: a 503, a dropped connection, a truncated body."""

    files, requests = {}, {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        name = self.path.rsplit("/", 1)[-1]
        seen = self.requests[name] = self.requests.get(name, 0) + 1
        data = self.files.get(name)
        trouble = int(name[3:6]) % 4 if seen <= 2 else None  # three files in four fail twice first
        if data is None or trouble == 1:
            self.send_error(404 if data is None else 503)
        elif trouble == 2:
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")  # then hang up
        else:
            body = data[: len(data) // 2] if trouble == 3 else data
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_every_file_arrives_verified_from_a_flaky_mirror(tmp_path, capsys):
    rng = random.Random(0)
    FlakyMirror.files = {f"img{i:03d}.jpg": rng.randbytes(rng.randint(500, 5000)) for i in range(40)}
    FlakyMirror.requests = {}
    manifest = tmp_path / "sums"
    manifest.write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in FlakyMirror.files.items()))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyMirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "faces"
        fetch_main(["--url", f"http://127.0.0.1:{server.server_port}", "--manifest", str(manifest), "--out", str(out),
                    "--backoff", "0.01", "--jobs", "6"])
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(p.name for p in out.iterdir()) == sorted(FlakyMirror.files)
    assert all((out / n).read_bytes() == d for n, d in FlakyMirror.files.items())
    retried = [n for n, count in FlakyMirror.requests.items() if count == 3]
    assert len(retried) == 30 and all(count in (1, 3) for count in FlakyMirror.requests.values())
    assert "all 40 verified" in capsys.readouterr().out


def test_real_data_matches_committed_manifest(real_data, capsys):
    fetch_main(["--out", str(real_data)])
    assert "all 750 files present and verified" in capsys.readouterr().out
    assert REAL_DATA == real_data


def test_files_come_out_of_a_pinned_archive_by_name_and_sum(mirror, tmp_path, capsys):
    """`make photos`: the manifest's files are taken out of one archive; a wrong archive or member never reaches out."""
    src, manifest = mirror
    (src / "deep").mkdir()
    (src / "f1.jpg").rename(src / "deep" / "f1.jpg")
    (src / "f0.jpg").write_bytes(b"a decoy under the right name")
    (src / "deep" / "f0.jpg").write_bytes(bytes([0]) * 100)
    archive = tmp_path / "release.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="release")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    out = tmp_path / "photos"
    with pytest.raises(SystemExit):
        fetch_main(["--archive", f"{archive.as_uri()}#sha256={'0' * 64}", "--manifest", str(manifest),
                    "--out", str(out), "--retries", "0"])
    err = capsys.readouterr().err
    assert "3 of 3 files failed" in err and "SHA-256 does not match" in err and not out.exists()
    fetch_main(["--archive", f"{archive.as_uri()}#sha256={digest}", "--manifest", str(manifest), "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["f0.jpg", "f1.jpg", "f2.jpg"]
    assert (out / "f0.jpg").read_bytes() == bytes([0]) * 100 and "all 3 verified" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        fetch_main(["--archive", archive.as_uri(), "--manifest", str(manifest), "--out", str(tmp_path / "x")])
    assert "needs the archive's SHA-256" in capsys.readouterr().err
