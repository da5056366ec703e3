"""The review app as reviewers use it: `python -m reviewer` in a subprocess against the real
broker, driven through Debian's headless Chromium (Selenium on the system chromedriver; no
browser is ever downloaded).

One scenario, in the order a working day has it: two reviewers sign in and never see each other's
item, a key press lands a feedback record within seconds, undo withdraws it, the app restarts and
loses nothing (no decided item again, the undecided one still there), a user's report jumps the
queue, and the API refuses strangers and unapproved tags without writing.

The page's screenshot goes to the test's temp dir, and to docs/reviewer.png (shown in the README)
when that is missing or UPDATE_SCREENSHOTS=1 is set.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from chaos.reader import committed_offsets
from chaos.services import free_ports
from tests.support import ROOT
from tests.support.harness import start_module, wait_for
from tests.support.reviewer import classified_bytes

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
SCREENSHOT = ROOT / "docs" / "reviewer.png"

NLP, CV, MLOPS, OTHER = "natural-language-processing", "computer-vision", "mlops", "other"
TOKENS = "tok-alice:Alice Martin,tok-bob:bob,tok-platform:platform"

# The review topic, in offset order (one partition, so the commit prefix is easy to state).
REVIEW = [
    (
        1001,
        "Segment Anything for CT scans with a 4 MB adapter",
        "We adapt a promptable segmentation foundation model to CT and MRI volumes with a small "
        "adapter trained on 20k annotated slices, matching fully fine-tuned baselines on organ "
        "and tumour masks while keeping the image encoder frozen.",
        {NLP: 0.41, CV: 0.37, MLOPS: 0.12, OTHER: 0.10},
    ),
    (
        1002,
        "Serving LLMs on Kubernetes, scaled on queue depth",
        "How we run vLLM behind KEDA: scaling on request queue depth rather than GPU load, "
        "warm pools, and rolling model upgrades without dropped requests.",
        {NLP: 0.44, CV: 0.04, MLOPS: 0.40, OTHER: 0.12},
    ),
    (
        1003,
        "Tokenizer-free language models: a survey",
        "Byte- and character-level models, their compute cost, and where they beat subword "
        "vocabularies on noisy and multilingual text.",
        {NLP: 0.52, CV: 0.05, MLOPS: 0.08, OTHER: 0.35},
    ),
    (
        1004,
        "Weekly reading list #42",
        "Ten links from the week: papers, talks and a few tools.",
        {NLP: 0.31, CV: 0.18, MLOPS: 0.16, OTHER: 0.35},
    ),
]
TAGGED = (
    2001,
    "Fine-tuning a ViT on drone imagery",
    "Transfer learning for aerial object detection.",
    {NLP: 0.05, CV: 0.86, MLOPS: 0.05, OTHER: 0.04},
)


def produce(bootstrap: str, topic: str, events: list[tuple], route: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for event_id, title, description, probs in events:
        top = max(probs, key=probs.get)
        value = classified_bytes(
            event_id, top=top, title=title, description=description, probs=probs, route=route
        )
        producer.produce(topic, value, str(event_id).encode())
    assert producer.flush(30) == 0


def feedback(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record on the feedback topic now, in offset order per partition (key checked)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        records = []
        deadline = time.monotonic() + 30
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            record = json.loads(msg.value())
            assert msg.key() == str(record["event_id"]).encode(), "keyed by event id"
            records.append(record)
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        assert not ends, "feedback topic not read to its end"
        return records
    finally:
        consumer.close()


def wait_feedback(
    bootstrap: str, topic: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        records = feedback(bootstrap, topic)
        if predicate(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


class ReviewerProcess:
    """`python -m reviewer` configured only through its environment, as ops run it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        [self.port] = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "REVIEWER_HOST": "127.0.0.1",
            "REVIEWER_PORT": str(self.port),
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> ReviewerProcess:
        def ready() -> bool:
            status, body = self.call("GET", "/healthz")
            return status == 200 and bool(body) and bool(body.get("assigned_partitions"))

        self.proc = start_module("reviewer", self.env, self.log_path, ready, timeout)
        return self

    def stop(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        token: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                raw = answer.read()
                return answer.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None
        except OSError:
            return 0, None


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Factory of headless Chromium sessions, each with a fresh profile; all quit afterwards."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail(
            "Debian's chromium and chromium-driver are needed (scripts/install-system.sh "
            "installs them)",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made: list[Any] = []

    def make(name: str) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in CHROMIUM_ARGS:
            options.add_argument(arg)
        options.add_argument(f"--user-data-dir={tmp_path / f'chromium-{name}'}")
        # An explicit driver path: Selenium then never runs selenium-manager (no downloads).
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(30)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.quit()


def page_ready(driver: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(
        lambda d: (
            d.execute_script("return document.readyState") == "complete"
            and (d.find_elements("id", "item") or d.find_elements("id", "empty"))
        )
    )


def sign_in(driver: Any, base: str, token: str) -> None:
    driver.get(base + "/login")
    driver.find_element("id", "token").send_keys(token)
    driver.find_element("id", "sign-in").click()
    page_ready(driver)


def shown(driver: Any) -> int | None:
    """The event id on the page, None when the queue is empty for this reviewer."""
    items = driver.find_elements("id", "item")
    return int(items[0].get_attribute("data-event-id")) if items else None


def press(driver: Any, key: str) -> None:
    """A key press on the page, as a reviewer's; waits for the page it leads to."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element("tag name", "html")

    def gone(_: Any) -> bool:
        # The old page's root is stale once the next page replaced it. Mid-navigation Chrome may
        # answer with an inspector error instead of a stale-element one: the node is gone too.
        try:
            old.is_enabled()
        except WebDriverException:
            return True
        return False

    ActionChains(driver).send_keys(key).perform()
    WebDriverWait(driver, 15).until(gone)
    page_ready(driver)


def reload(driver: Any) -> None:
    driver.refresh()
    page_ready(driver)


def test_reviewers_in_a_browser(
    services: Any, new_topic: Callable[..., str], browsers: Callable[[str], Any], tmp_path: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    bootstrap = services.bootstrap
    review = new_topic(partitions=1, prefix="review")
    tagged = new_topic(partitions=2, prefix="tagged")
    feedback_topic = new_topic(partitions=3, prefix="feedback")
    group = f"reviewer-{uuid.uuid4().hex[:8]}"
    produce(bootstrap, review, REVIEW, "review")
    produce(bootstrap, tagged, [TAGGED], "tagged")
    app = ReviewerProcess(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "TOPIC_REVIEW": review,
            "TOPIC_TAGGED": tagged,
            "TOPIC_FEEDBACK": feedback_topic,
            "REVIEWER_GROUP_ID": group,
            "REVIEWER_TOKENS": TOKENS,
            "REVIEWER_SECRET_KEY": "integration-test-secret",
            "LOG_LEVEL": "INFO",
        },
        tmp_path / "reviewer.log",
    )
    try:
        app.start()

        def depth() -> int:
            status, health = app.call("GET", "/healthz")
            return health["queue"]["depth"] if status == 200 else -1

        assert wait_for(lambda: depth() == len(REVIEW), 10), "queue depth: each item once"
        alice, bob = browsers("alice"), browsers("bob")
        bob_saw: list[int | None] = []

        # Sign in; each sees one item, never the other's.
        sign_in(alice, app.url, "tok-alice")
        assert shown(alice) == 1001
        assert "Alice Martin" in alice.find_element("id", "reviewer").text
        tags = [b.get_attribute("value") for b in alice.find_elements("css selector", ".bar-row")]
        assert tags == [NLP, CV, MLOPS, OTHER], "keys 1–4 in the approved order"
        alice.save_screenshot(str(tmp_path / "reviewer.png"))
        if os.environ.get("UPDATE_SCREENSHOTS") or not SCREENSHOT.exists():
            alice.save_screenshot(str(SCREENSHOT))
        sign_in(bob, app.url, "tok-bob")
        bob_saw.append(shown(bob))
        assert bob_saw[-1] == 1002

        # `2` on the first item: a feedback record with the id, computer-vision and the name.
        began = time.monotonic()
        press(alice, "2")
        records = wait_feedback(bootstrap, feedback_topic, lambda r: len(r) >= 1, 10)
        landed = time.monotonic() - began
        assert landed < 10, f"the record took {landed:.1f} s"
        first = records[0]
        assert (first["event_id"], first["final_tag"], first["reviewer"]) == (
            1001,
            CV,
            "Alice Martin",
        )
        assert first["action"] == "correct" and first["predicted_tag"] == NLP
        assert first["seconds_to_decide"] is not None
        assert "Corrected to computer-vision" in alice.find_element("id", "flash").text
        assert shown(alice) == 1003, "the next free item (1002 is bob's)"

        # Undo: a skip withdraws the label on the topic, and the item is alice's again.
        press(alice, "u")
        assert shown(alice) == 1001
        records = wait_feedback(bootstrap, feedback_topic, lambda r: len(r) >= 2, 10)
        undo = records[-1]
        assert (undo["event_id"], undo["action"], undo["final_tag"]) == (1001, "skip", None)
        assert undo["comment"].startswith("undo:")
        reload(bob)
        bob_saw.append(shown(bob))
        press(alice, "2")  # decided again: this record is the latest and wins
        assert shown(alice) == 1003

        # Bob works on: mlops for his item, then the model's tag (Enter) on the next one.
        press(bob, "3")
        bob_saw.append(shown(bob))
        assert bob_saw[-1] == 1004
        press(bob, Keys.ENTER)
        bob_saw.append(shown(bob))
        assert bob_saw[-1] is None, "1003 is leased to alice"
        assert 1001 not in bob_saw and 1003 not in bob_saw, bob_saw
        records = wait_feedback(bootstrap, feedback_topic, lambda r: len(r) >= 5, 10)
        latest = {r["event_id"]: r for r in records}
        assert {k: (v["action"], v["final_tag"]) for k, v in latest.items()} == {
            1001: ("correct", CV),
            1002: ("correct", MLOPS),
            1004: ("confirm", OTHER),
        }

        # Only the prefix before the first undecided record (1003, offset 2) is committed.
        assert wait_for(lambda: committed_offsets(bootstrap, group, review).get(0) == 2, 15)
        time.sleep(1.5)
        assert committed_offsets(bootstrap, group, review).get(0) == 2

        # The API: strangers get 401, an unapproved tag 422, and neither writes.
        before = len(feedback(bootstrap, feedback_topic))
        assert app.call("GET", "/api/next")[0] == 401
        status, body = app.call("GET", "/api/next", token="not-a-token")
        assert status == 401 and body["error"]["code"] == "unauthorized"
        status, body = app.call(
            "POST", "/api/labels", {"event_id": 1003, "tag": "spam"}, token="tok-alice"
        )
        assert status == 422 and body["error"]["code"] == "unapproved_tag"
        status, body = app.call(
            "POST", "/api/labels", {"event_id": 1001, "tag": MLOPS}, token="tok-alice"
        )
        assert status == 409 and body["error"]["code"] == "already_decided"
        time.sleep(1.0)
        assert len(feedback(bootstrap, feedback_topic)) == before

        # Restart: no decided item comes back (1004 is past the committed prefix), 1003 does.
        assert app.stop() in (0, -signal.SIGTERM), "a clean shutdown (uvicorn re-raises SIGTERM)"
        app.start()
        reload(bob)
        assert shown(bob) == 1003, "the undecided item survived the restart"
        reload(alice)
        assert shown(alice) is None, "every other item is decided"
        status, _ = app.call("GET", "/api/next", token="tok-platform")
        assert status == 204

        # A user's report on a tagged event: a report record, and the item jumps the queue.
        def reported() -> bool:
            status, _ = app.call(
                "POST",
                "/api/reports",
                {"event_id": 2001, "reported_tag": MLOPS, "comment": "it is about deployment"},
                token="tok-platform",
            )
            assert status in (202, 404)
            return status == 202

        assert wait_for(reported, 15), "the tagged event was never indexed"
        records = wait_feedback(
            bootstrap, feedback_topic, lambda r: r[-1]["event_id"] == 2001 if r else False, 10
        )
        report = [r for r in records if r["event_id"] == 2001][-1]
        assert (report["action"], report["final_tag"], report["reviewer"]) == (
            "report",
            MLOPS,
            "platform",
        )
        reload(alice)
        assert shown(alice) == 2001
        assert alice.find_elements("id", "reported")

        # Bob decides the last review item: now the whole partition is committed.
        press(bob, Keys.ENTER)
        assert wait_for(lambda: committed_offsets(bootstrap, group, review).get(0) == 4, 15)
        assert depth() == 1, "the report alice holds"

        # Enter on a focused button is that button's (here skip), never the model's tag.
        alice.execute_script("document.getElementById('skip').focus()")
        press(alice, Keys.ENTER)

        def decided_2001(r: list[dict[str, Any]]) -> bool:
            return any(x["event_id"] == 2001 and x["action"] != "report" for x in r)

        records = wait_feedback(bootstrap, feedback_topic, decided_2001, 10)
        decision = [r for r in records if r["event_id"] == 2001 and r["action"] != "report"]
        assert [(r["action"], r["reviewer"]) for r in decision] == [("skip", "Alice Martin")]
    except BaseException:
        print(app.logs() if app.log_path.exists() else "(no reviewer log)")
        raise
    finally:
        app.kill_quietly()
