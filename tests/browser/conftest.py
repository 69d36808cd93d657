"""Browser tests: Debian's Chromium driven by Playwright, against a real all-in-one server.

The server is ``python -m allinone`` in its own process (local storage in a temporary folder,
the in-process broker, real weights of the small ``realesr-animevideov3`` model), shared by
the browser tests and stopped when they are done. Screenshots are written under one folder,
printed at the end of the run (``BROWSER_ARTIFACTS`` chooses it; default
``var/browser-artifacts/<time>``).

Chromium or Playwright missing: the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import MODEL_CACHE, REPO, UNLIMITED_ADMISSION_ENV, skip_or_fail
from tests.support.net import free_port, wait_http_ok
from tests.support.processes import Service

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: Watches the page from inside (installed before any page script runs): every CSP violation,
#: and every value a progress bar took and every text its stage line showed, in order, even
#: when several changes fall in one task (old values and added text nodes keep each one).
WATCH_SCRIPT = """(() => {
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
window.__progress = [];
const valueOf = (raw) => (raw === null ? null : Number(raw));
new MutationObserver((records) => {
  records.forEach((r, i) => {
    const job = r.target.closest?.(".job");
    if (!job) return;
    const id = job.dataset.jobId || null;
    if (r.type === "attributes" && r.target.localName === "progress") {
      // This change's new value is the next change's old value, or the value now.
      const later = records.slice(i + 1)
        .find((o) => o.target === r.target && o.type === "attributes");
      const value = later ? valueOf(later.oldValue) : valueOf(r.target.getAttribute("value"));
      window.__progress.push({ job: id, kind: "value", value });
    } else if (r.type === "childList" && r.target.classList.contains("job-stage")) {
      for (const node of r.addedNodes) {
        window.__progress.push({ job: id, kind: "stage", stage: node.data });
      }
    }
  });
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["value"],
                       attributeOldValue: true, childList: true });
})();"""


def _artifacts_dir() -> Path:
    chosen = os.environ.get("BROWSER_ARTIFACTS")
    if chosen:
        return Path(chosen)
    return REPO / "var" / "browser-artifacts" / time.strftime("%Y%m%d-%H%M%S")


ARTIFACTS = _artifacts_dir()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``browser``."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are."""
    if ARTIFACTS.exists():
        terminalreporter.write_line(f"browser test screenshots: {ARTIFACTS}")


@dataclass
class Server:
    """The all-in-one server under test."""

    base: str
    storage: Path
    process: Service

    def manifests(self) -> set[Path]:
        """Every job manifest in storage: one per job that exists."""
        return set(self.storage.rglob("manifest.json"))


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium binary (``CHROMIUM_PATH`` names another) and Playwright."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        skip_or_fail("chromium is not installed (apt-get install -y chromium chromium-driver)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install playwright)")
    return path


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Server]:
    """``python -m allinone`` as its own process, on a free port, storage in a temp folder."""
    port = free_port()
    root = tmp_path_factory.mktemp("allinone")
    env = {
        "GATEWAY_PORT": str(port),
        "STORAGE_LOCAL_DIR": str(root / "storage"),
        "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
        # One small model keeps CPU time low; tiles of 64 px, one per pass, report progress
        # often enough for the 320 px photo to show several steps however busy the machine.
        "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
        "WORKER_TILE_SIZE": "64",
        "WORKER_TILE_BATCH": "1",
        "WORKER_WARMUP": "false",
        **UNLIMITED_ADMISSION_ENV,  # every test of the package is one client network
    }
    process = Service("allinone", ["-m", "allinone"], env, root)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 300, process)
        yield Server(f"http://127.0.0.1:{port}", root / "storage", process)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """One headless Chromium per test module.

    Not per session: Playwright's sync API keeps an asyncio loop running in this thread while
    it is open, and tests of other folders that call ``asyncio.run()`` would then fail.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """shots(page, stage): a full-page screenshot named after the test and the stage."""
    folder = ARTIFACTS / request.node.name.replace("[", "-").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Any, stage: str, *, full_page: bool = True) -> Path:
        path = folder / f"{stage}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
def open_page(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    """open_page(width=1280, height=900): a fresh tab on the page, watched for CSP violations
    and script errors, which fail the test at its end."""
    contexts: list[Any] = []
    pages: list[tuple[Any, list[str]]] = []

    def open_(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
        )
        context.add_init_script(WATCH_SCRIPT)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )
        pages.append((page, errors))
        page.goto(f"{server.base}/")
        # The model list arrives from GET /v1/models.
        page.wait_for_selector("#model option[value='realesr-animevideov3']", state="attached")
        return page

    yield open_
    try:
        for page, errors in pages:
            if not page.is_closed():
                errors += [f"CSP: {v}" for v in page.evaluate("window.__csp || []")]
            assert errors == [], errors
    finally:
        for context in contexts:
            context.close()
