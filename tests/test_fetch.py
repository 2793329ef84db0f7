import hashlib

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


def test_mismatch_or_missing_file_leaves_nothing_behind(mirror, tmp_path, capsys):
    src, manifest = mirror
    (src / "f1.jpg").write_bytes(b"tampered")
    out = tmp_path / "data" / "faces"
    with pytest.raises(SystemExit):
        fetch_main(["--url", src.as_uri(), "--manifest", str(manifest), "--out", str(out)])
    assert "f1.jpg" in capsys.readouterr().err and list(out.parent.iterdir()) == []
    (src / "f1.jpg").unlink()
    with pytest.raises(SystemExit):
        fetch_main(["--url", src.as_uri(), "--manifest", str(manifest), "--out", str(out)])
    assert "download of f1.jpg" in capsys.readouterr().err and list(out.parent.iterdir()) == []


def test_real_data_matches_committed_manifest(real_data, capsys):
    fetch_main(["--out", str(real_data)])
    assert "all 750 files present and verified" in capsys.readouterr().out
    assert REAL_DATA == real_data
