"""Downloads: checksum verified, atomic, clear errors -- against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from course_utils.data import corpora
from course_utils.data.corpora import CorpusNotAvailable, CorpusSpec, add_corpus, fetch_corpus, load_corpus
from course_utils.data.download import ChecksumError, download_file

PAYLOAD = ("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 2000).encode()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = {"/good.txt": PAYLOAD, "/corrupt.txt": PAYLOAD[:-10] + b"XXXXXXXXXX"}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def fake_corpus(monkeypatch, server):
    spec = CorpusSpec(name="shakespeare", url=f"{server}/good.txt", filename="tinyshakespeare.txt",
                      sha256=SHA, n_chars=len(PAYLOAD))
    monkeypatch.setitem(corpora.CORPORA, "shakespeare", spec)
    return spec


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_download_verifies_and_writes(tmp_path, server):
    dest = download_file(f"{server}/good.txt", tmp_path / "good.txt", SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["good.txt"]


def test_corrupted_download_leaves_nothing(tmp_path, server):
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download_file(f"{server}/corrupt.txt", tmp_path / "t.txt", SHA, progress=False)
    assert _leftovers(tmp_path) == []


def test_corrupted_download_keeps_a_good_cached_copy(tmp_path, server):
    dest = tmp_path / "t.txt"
    dest.write_bytes(PAYLOAD)
    with pytest.raises(ChecksumError):
        download_file(f"{server}/corrupt.txt", dest, SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD and _leftovers(tmp_path) == ["t.txt"]


def test_fetch_then_load_uses_cache(data_dir, fake_corpus):
    path = fetch_corpus("shakespeare", progress=False)
    assert path.parent == data_dir
    assert load_corpus("shakespeare", download=False) == PAYLOAD.decode()


def test_load_downloads_when_missing(data_dir, fake_corpus):
    assert load_corpus("shakespeare", max_chars=14) == "First Citizen:"
    assert (data_dir / "tinyshakespeare.txt").exists()


def test_offline_without_cache_names_both_fixes(data_dir, monkeypatch):
    spec = CorpusSpec("shakespeare", "http://127.0.0.1:9/input.txt", "tinyshakespeare.txt", SHA, 0)
    monkeypatch.setitem(corpora.CORPORA, "shakespeare", spec)
    with pytest.raises(CorpusNotAvailable) as err:
        load_corpus("shakespeare")
    msg = str(err.value)
    assert "course data fetch shakespeare" in msg and "course data add shakespeare PATH" in msg
    assert _leftovers(data_dir) == []


def test_tampered_cache_is_reported(data_dir, fake_corpus):
    (data_dir / "tinyshakespeare.txt").write_text("not the corpus")
    with pytest.raises(CorpusNotAvailable, match="checksum"):
        load_corpus("shakespeare", download=False)


def test_add_local_copy_checks_checksum(data_dir, fake_corpus, tmp_path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("To be or not to be")
    with pytest.raises(ChecksumError):
        add_corpus("shakespeare", wrong)
    assert _leftovers(data_dir) == []
    right = tmp_path / "right.txt"
    right.write_bytes(PAYLOAD)
    assert add_corpus("shakespeare", right).read_bytes() == PAYLOAD


def test_cli_add_and_fetch_errors(data_dir, tmp_path):
    missing = subprocess.run([sys.executable, "-m", "course_utils.cli", "data", "add", "shakespeare",
                              str(tmp_path / "nope.txt")], capture_output=True, text=True)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    offline = subprocess.run([sys.executable, "-m", "course_utils.cli", "data", "fetch", "shakespeare",
                              "--url", "http://127.0.0.1:9/input.txt"], capture_output=True, text=True)
    assert offline.returncode == 2 and "course data add shakespeare PATH" in offline.stderr
    assert _leftovers(data_dir) == []
