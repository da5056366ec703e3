"""The review app over HTTP without a server or a broker: Starlette's TestClient against the app
wired to an in-memory queue and feedback sink. Every refusal is a 4xx with a JSON error and writes
nothing; the forms are CSRF-protected; the page offers the keys in the approved order."""

import re
from collections.abc import Iterator
from dataclasses import replace
from html import escape
from types import SimpleNamespace

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from reviewer.auth import Authenticator
from reviewer.config import ReviewerSettings, TokenError, parse_tokens
from reviewer.queue import Position
from reviewer.runtime import Runtime
from reviewer.web import create_app
from schemas.tags import APPROVED_TAGS
from tests.support.reviewer import SECRET, TOKENS, Harness, harness, review_event

ALICE = {"Authorization": "Bearer tok-alice"}
BOB = {"Authorization": "Bearer tok-bob"}
PLATFORM = {"Authorization": "Bearer tok-platform"}


@pytest.fixture
def h() -> Harness:
    return harness()


@pytest.fixture
def client(h: Harness) -> Iterator[TestClient]:
    with TestClient(create_app(h.service, h.auth, secret_key=SECRET)) as c:
        yield c


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(client: TestClient, token: str = "tok-alice") -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    answer = client.post(
        "/login", data={"token": token, "csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/").text)


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code


class TestUnauthorized:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Bearer "},
            {"Authorization": "Basic dG9rLWFsaWNlOg=="},
            {"Authorization": "tok-alice"},
        ],
    )
    def test_api_without_a_valid_token(
        self, h: Harness, client: TestClient, headers: dict[str, str]
    ) -> None:
        h.add("a")
        assert_error(client.get("/api/next", headers=headers), 401, "unauthorized")
        for path, body in [
            ("/api/labels", {"event_id": "a", "tag": "mlops"}),
            ("/api/skip", {"event_id": "a"}),
            ("/api/undo", {}),
            ("/api/reports", {"event_id": "a"}),
        ]:
            answer = client.post(path, json=body, headers=headers)
            assert_error(answer, 401, "unauthorized")
            assert answer.headers["www-authenticate"] == "Bearer"
        assert h.sink.records == []
        assert h.queue.stats().leased == 0

    def test_a_bad_token_is_refused_even_with_a_good_session(
        self, h: Harness, client: TestClient
    ) -> None:
        h.add("a")
        csrf = sign_in(client)
        answer = client.post(
            "/api/labels",
            json={"event_id": "a", "tag": "mlops"},
            headers={"Authorization": "Bearer wrong", "X-CSRF-Token": csrf},
        )
        assert_error(answer, 401)
        assert h.sink.records == []

    def test_pages_send_strangers_to_login(self, client: TestClient) -> None:
        answer = client.get("/", follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")

    def test_wrong_token_at_login(self, client: TestClient) -> None:
        page = client.get("/login")
        answer = client.post("/login", data={"token": "nope", "csrf": csrf_of(page.text)})
        assert answer.status_code == 401
        assert "Unknown token" in answer.text
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_session_ends_when_its_token_is_withdrawn(self, h: Harness) -> None:
        with TestClient(create_app(h.service, h.auth, secret_key=SECRET)) as first:
            sign_in(first)
            cookies = dict(first.cookies)
        others = Authenticator({"tok-bob": "bob"})
        with TestClient(create_app(h.service, others, secret_key=SECRET)) as second:
            second.cookies.update(cookies)
            assert_error(second.get("/api/next"), 401)

    def test_proxy_header_only_when_configured(self) -> None:
        plain = harness()
        plain.add("a")
        with TestClient(create_app(plain.service, plain.auth, secret_key=SECRET)) as c:
            assert_error(c.get("/api/next", headers={"X-Forwarded-User": "mallory"}), 401)
        proxied = harness(proxy_header="X-Forwarded-User")
        proxied.add("a")
        with TestClient(create_app(proxied.service, proxied.auth, secret_key=SECRET)) as c:
            answer = c.get("/api/next", headers={"X-Forwarded-User": "carol"})
            assert answer.status_code == 200
            assert answer.json()["leased_to"] == "carol"


class TestMalformed:
    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            (b"{not json", 400, "malformed_json"),
            (b"", 400, "malformed_json"),
            (b"\xff\xfe", 400, "malformed_json"),
            (b'["a", "mlops"]', 400, "malformed_json"),
            (b'{"event_id": "a"}', 422, "invalid_request"),
            (b'{"tag": "mlops"}', 422, "invalid_request"),
            (b'{"event_id": null, "tag": "mlops"}', 422, "invalid_request"),
            (b'{"event_id": true, "tag": "mlops"}', 422, "invalid_request"),
            (b'{"event_id": 1.5, "tag": "mlops"}', 422, "invalid_request"),
            (b'{"event_id": "a", "tag": 3}', 422, "invalid_request"),
            (b'{"event_id": "a", "tag": "mlops", "extra": 1}', 422, "invalid_request"),
            (b'{"event_id": "a", "tag": "' + b"x" * 70_000 + b'"}', 413, "body_too_large"),
            (b"[" * 50_000, 400, "malformed_json"),
            (b'{"a":' * 10_000, 400, "malformed_json"),
        ],
    )
    def test_labels(
        self, h: Harness, client: TestClient, body: bytes, status: int, code: str
    ) -> None:
        h.add("a")
        answer = client.post(
            "/api/labels", content=body, headers={**ALICE, "Content-Type": "application/json"}
        )
        assert_error(answer, status, code)
        assert h.sink.records == []

    @pytest.mark.parametrize("tag", ["spam", "", "NLP", "Computer-Vision", "computer vision"])
    def test_unapproved_tag(self, h: Harness, client: TestClient, tag: str) -> None:
        h.add("a")
        answer = client.post("/api/labels", json={"event_id": "a", "tag": tag}, headers=ALICE)
        assert_error(answer, 422, "unapproved_tag")
        assert h.sink.records == []
        assert h.queue.stats().items == 1

    def test_chunked_form_past_the_limit_is_refused(self, h: Harness, client: TestClient) -> None:
        """No Content-Length to go by: the form is counted as it streams in, at sign-in too."""

        def chunks(total: int) -> Iterator[bytes]:
            yield b"csrf=x&token="
            for _ in range(total // 8192):
                yield b"t" * 8192

        page = client.get("/login")
        assert "Sign" in page.text
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        answer = client.post("/login", content=chunks(200_000), headers=form)
        assert "content-length" not in answer.request.headers
        assert_error(answer, 413, "body_too_large")
        h.add("a")
        sign_in(client)
        for path in ("/decide", "/undo", "/logout"):
            assert_error(client.post(path, content=chunks(200_000), headers=form), 413)
        assert h.sink.records == []
        assert client.get("/", follow_redirects=False).status_code == 200, "still signed in"

    def test_a_content_length_that_is_not_a_number_is_a_400(self, client: TestClient) -> None:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "x"}
        answer = client.post("/login", content=b"token=t", headers=headers)
        assert_error(answer, 400, "malformed_body")

    @pytest.mark.parametrize("path", ["/decide", "/undo"])
    def test_form_posts_need_a_session_before_their_body_is_read(
        self, h: Harness, client: TestClient, path: str
    ) -> None:
        h.add("a")
        big = b"csrf=x&event_id=a&tag=" + b"m" * 70_000
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert_error(client.post(path, content=big, headers=form), 401, "unauthorized")
        answer = client.post("/logout", content=big, headers=form, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
        assert h.sink.records == []

    def test_report_bodies(self, h: Harness, client: TestClient) -> None:
        h.index.put(review_event("t", "computer-vision"))
        for body, status, code in [
            ({"event_id": "t", "reported_tag": "spam"}, 422, "unapproved_tag"),
            (
                {"event_id": "t", "reported_tag": "computer-vision"},
                422,
                "reported_tag_is_predicted",
            ),
            ({"event_id": "t", "comment": "x" * 2001}, 422, "invalid_request"),
            ({"event_id": "t", "comment": 5}, 422, "invalid_request"),
            ({"reported_tag": "mlops"}, 422, "invalid_request"),
        ]:
            assert_error(client.post("/api/reports", json=body, headers=PLATFORM), status, code)
        assert h.sink.records == []


class TestConflicts:
    def test_unknown_event(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        for path, body in [
            ("/api/labels", {"event_id": "nope", "tag": "mlops"}),
            ("/api/skip", {"event_id": "nope"}),
            ("/api/reports", {"event_id": "nope", "reported_tag": "mlops"}),
        ]:
            assert_error(client.post(path, json=body, headers=ALICE), 404, "unknown_event")
        assert h.sink.records == []

    def test_already_decided(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        ok = client.post("/api/labels", json={"event_id": "a", "tag": "mlops"}, headers=ALICE)
        assert ok.status_code == 200
        again = client.post("/api/labels", json={"event_id": "a", "tag": "other"}, headers=BOB)
        assert_error(again, 409, "already_decided")
        assert_error(client.post("/api/skip", json={"event_id": "a"}, headers=ALICE), 409)
        assert len(h.sink.records) == 1

    def test_leased_to_someone_else(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        item = client.get("/api/next", headers=ALICE).json()
        assert item["event_id"] == "a" and item["leased_to"] == "alice"
        assert client.get("/api/next", headers=BOB).status_code == 204, "bob never sees it"
        for path, body in [
            ("/api/labels", {"event_id": "a", "tag": "mlops"}),
            ("/api/skip", {"event_id": "a"}),
        ]:
            assert_error(client.post(path, json=body, headers=BOB), 409, "leased_to_other")
        assert h.sink.records == []

    def test_nothing_to_undo(self, client: TestClient, h: Harness) -> None:
        assert_error(client.post("/api/undo", headers=ALICE), 409, "nothing_to_undo")
        assert h.sink.records == []

    def test_event_no_record_can_be_built_for_is_a_422(
        self, h: Harness, client: TestClient
    ) -> None:
        # A ClassifiedEvent may carry an empty model_version, a FeedbackRecord may not; intake
        # passes such events over, and should one reach a decision it is refused, not a 500.
        h.queue.add_review(replace(review_event("e"), model_version=""), Position(0, 0), h.clock())
        for path, body in [
            ("/api/labels", {"event_id": "e", "tag": "mlops"}),
            ("/api/skip", {"event_id": "e"}),
            ("/api/reports", {"event_id": "e", "reported_tag": "mlops"}),
        ]:
            assert_error(client.post(path, json=body, headers=ALICE), 422, "unrecordable")
        assert h.sink.records == []
        csrf = sign_in(client)
        answer = client.post("/decide", data={"csrf": csrf, "event_id": "e", "skip": "1"})
        assert answer.status_code == 200 and "no feedback record can be built" in answer.text

    def test_broker_down_is_503_and_nothing_changes(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        h.sink.fail = True
        answer = client.post("/api/labels", json={"event_id": "a", "tag": "mlops"}, headers=ALICE)
        assert_error(answer, 503, "feedback_unavailable")
        assert h.queue.stats().items == 1
        h.sink.fail = False
        answer = client.post("/api/labels", json={"event_id": "a", "tag": "mlops"}, headers=ALICE)
        assert answer.status_code == 200


class TestApi:
    def test_next_label_undo_flow(self, h: Harness, client: TestClient) -> None:
        assert client.get("/api/next", headers=ALICE).status_code == 204
        h.add(7, top="computer-vision")
        item = client.get("/api/next", headers=ALICE).json()
        assert item["event_id"] == 7
        assert list(item["probabilities"]) == list(APPROVED_TAGS)
        assert item["predicted_tag"] == "computer-vision"
        answer = client.post("/api/labels", json={"event_id": 7, "tag": "mlops"}, headers=ALICE)
        assert answer.json()["action"] == "correct"
        record = h.sink.records[-1]
        assert (record.event_id, record.final_tag, record.reviewer) == (7, "mlops", "alice")
        assert record.source_topic == "test.review" and record.source_offset == 0
        undone = client.post("/api/undo", headers=ALICE)
        assert undone.status_code == 200 and undone.json()["event_id"] == 7
        assert h.sink.records[-1].action == "skip"
        confirm = client.post(
            "/api/labels", json={"event_id": "7", "tag": "computer-vision"}, headers=ALICE
        )
        assert confirm.json()["action"] == "confirm"

    def test_skip(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        answer = client.post("/api/skip", json={"event_id": "a"}, headers=ALICE)
        assert answer.status_code == 200
        assert (h.sink.records[-1].action, h.sink.records[-1].final_tag) == ("skip", None)

    def test_report_queues_ahead(self, h: Harness, client: TestClient) -> None:
        h.add("low")
        h.index.put(review_event("t", "computer-vision"))
        answer = client.post(
            "/api/reports",
            json={"event_id": "t", "reported_tag": "mlops", "comment": "pipelines"},
            headers=PLATFORM,
        )
        assert answer.status_code == 202 and answer.json()["queued"] is True
        record = h.sink.records[-1]
        assert (record.action, record.final_tag, record.reviewer) == ("report", "mlops", "platform")
        item = client.get("/api/next", headers=ALICE).json()
        assert item["event_id"] == "t" and item["reported"] is True
        assert item["reports"][0]["reported_tag"] == "mlops"

    def test_session_writes_need_the_csrf_header(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        csrf = sign_in(client)
        body = {"event_id": "a", "tag": "mlops"}
        assert_error(client.post("/api/labels", json=body), 403, "csrf_failed")
        assert_error(
            client.post("/api/labels", json=body, headers={"X-CSRF-Token": "x" + csrf}), 403
        )
        assert h.sink.records == []
        answer = client.post("/api/labels", json=body, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 200
        assert h.sink.records[-1].reviewer == "alice"


class TestPages:
    def test_review_page_shows_one_item_with_bars_and_keys(
        self, h: Harness, client: TestClient
    ) -> None:
        h.add("a", top="mlops")
        h.clock.advance(200)
        sign_in(client)
        page = client.get("/")
        html = page.text
        assert "Item a" in html and "https://example.org/a" in html
        assert "test-model-1" in html and "3 min 20 s" in html
        keys = re.findall(r'data-key="(\w+)"', html)
        assert keys == ["1", "2", "3", "4", "Enter", "s", "u"]
        tags = re.findall(r'name="tag" value="([^"]+)" data-key="[1-4]"', html)
        assert tags == list(APPROVED_TAGS)
        assert 'value="mlops" data-key="Enter"' in html
        assert "nonce-" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"

    def test_forms_decide_and_undo(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        csrf = sign_in(client)
        answer = client.post(
            "/decide", data={"csrf": csrf, "event_id": "a", "tag": "computer-vision"}
        )
        assert answer.status_code == 200 and "Corrected to computer-vision" in answer.text
        assert h.sink.records[-1].final_tag == "computer-vision"
        assert "Nothing to review" in answer.text
        answer = client.post("/undo", data={"csrf": csrf})
        assert "Item a" in answer.text and "yours again" in answer.text
        answer = client.post("/decide", data={"csrf": csrf, "event_id": "a", "skip": "1"})
        assert "Skipped" in answer.text
        assert [r.action for r in h.sink.records] == ["correct", "skip", "skip"]

    def test_form_errors_show_on_the_page(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        csrf = sign_in(client)
        answer = client.post("/decide", data={"csrf": csrf, "event_id": "a", "tag": "spam"})
        assert "not one of the approved tags" in answer.text
        assert h.sink.records == []

    @pytest.mark.parametrize("path", ["/decide", "/undo", "/logout"])
    def test_forms_without_csrf(self, h: Harness, client: TestClient, path: str) -> None:
        h.add("a")
        csrf = sign_in(client)
        for data in ({"event_id": "a", "tag": "mlops"}, {"csrf": csrf[:-1], "event_id": "a"}):
            assert_error(client.post(path, data=data), 403, "csrf_failed")
        assert h.sink.records == []
        assert client.get("/", follow_redirects=False).status_code == 200, "still signed in"

    def test_login_needs_csrf(self, client: TestClient) -> None:
        client.get("/login")
        answer = client.post("/login", data={"token": "tok-alice"})
        assert answer.status_code == 403
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_logout(self, client: TestClient) -> None:
        csrf = sign_in(client)
        answer = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
        assert answer.headers["location"] == "/login"
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_keys_leave_focused_controls_to_the_browser(
        self, h: Harness, client: TestClient
    ) -> None:
        """Enter on a focused button clicks that button (the browser's default), not the model's
        tag: the key handler returns early for buttons, links and fields."""
        h.add("a")
        sign_in(client)
        script = client.get("/").text.split("<script", 1)[1]
        guard = re.search(r"var controls = \[([^\]]*)\]", script)
        assert guard, "the key handler has no list of controls it leaves alone"
        assert {"BUTTON", "A", "INPUT", "TEXTAREA"} <= set(re.findall(r'"(\w+)"', guard[1]))
        assert "controls.indexOf(t.tagName) >= 0" in script
        assert script.index("controls.indexOf") < script.index("preventDefault")

    @pytest.mark.parametrize(
        ("url", "linked"),
        [
            ("https://example.org/a", True),
            ("HTTP://example.org/a", True),
            ("javascript:alert(1)", False),
            (" javascript:alert(1)", False),
            ("data:text/html,<b>x</b>", False),
            ("example.org/a", False),
        ],
    )
    def test_only_web_urls_are_links(
        self, h: Harness, client: TestClient, url: str, linked: bool
    ) -> None:
        h.queue.add_review(replace(review_event("x"), url=url), Position(0, 0), h.clock())
        sign_in(client)
        html = client.get("/").text
        hrefs = re.findall(r'<a href="([^"]*)"', html)
        assert (escape(url) in hrefs) == linked
        assert escape(url) in html, "the URL is shown either way"
        assert not [href for href in hrefs if "script:" in href or href.startswith("data:")]

    def test_text_is_escaped(self, h: Harness, client: TestClient) -> None:
        event = review_event("x")
        h.queue.add_review(
            replace(event, title="<script>alert(1)</script>"), Position(0, 0), h.clock()
        )
        sign_in(client)
        html = client.get("/").text
        assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


class TestOps:
    def test_metrics(self, h: Harness, client: TestClient) -> None:
        h.add("a", top="mlops")
        h.add("b")
        client.get("/api/next", headers=ALICE)
        h.clock.advance(4)
        client.post("/api/labels", json={"event_id": "a", "tag": "other"}, headers=ALICE)
        text = client.get("/metrics").text
        assert "tagger_review_queue_depth 1.0" in text
        assert 'tagger_review_decisions_total{action="correct"} 1.0' in text
        assert 'tagger_review_decisions_total{action="confirm"} 0.0' in text
        assert 'tagger_review_corrections_total{predicted_tag="mlops"} 1.0' in text
        assert "tagger_review_decision_seconds_count 1.0" in text
        assert 'tagger_review_decision_seconds_bucket{le="5.0"} 1.0' in text
        assert "tagger_review_items_waiting_seconds 4.0" in text

    def test_healthz(self, h: Harness, client: TestClient) -> None:
        h.add("a")
        body = client.get("/healthz").json()
        assert body["status"] == "ok" and body["queue"]["depth"] == 1

    @pytest.mark.parametrize(("review", "tagged"), [(True, True), (False, True), (True, False)])
    def test_readiness_needs_both_readers(self, review: bool, tagged: bool) -> None:
        """Reports need the tagged reader's index: without it the app is not ready either."""
        runtime = Runtime(ReviewerSettings(kafka_bootstrap_servers="127.0.0.1:1"))
        runtime.reader._consumer.close()
        runtime.tagged._consumer.close()
        runtime.started = True
        runtime.reader = SimpleNamespace(alive=review, error=None, assigned=[0])  # type: ignore[assignment]
        runtime.tagged = SimpleNamespace(alive=tagged, error="KafkaException: down")  # type: ignore[assignment]
        ready, details = runtime.health()
        assert ready == (review and tagged)
        assert details["tagged_reader"] == ("running" if tagged else "KafkaException: down")


class TestSettings:
    def test_tokens(self) -> None:
        assert parse_tokens("a:alice, b:bob smith,") == {"a": "alice", "b": "bob smith"}
        assert parse_tokens("") == {}
        for bad in ("a", "a:", ":alice", "a:x,a:y"):
            with pytest.raises(TokenError):
                parse_tokens(bad)

    def test_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("REVIEWER_TOKENS", "t1:ann")
        monkeypatch.setenv("REVIEWER_PORT", "9000")
        monkeypatch.setenv("REVIEWER_PROXY_HEADER", " ")
        monkeypatch.setenv("TOPIC_FEEDBACK", "x.feedback")
        settings = ReviewerSettings()
        assert settings.tokens() == {"t1": "ann"}
        assert settings.reviewer_port == 9000
        assert settings.reviewer_proxy_header is None
        assert settings.topic_feedback == "x.feedback"
        assert settings.reviewer_lease_seconds == 300
        assert settings.reviewer_group_id == "content-tagger-reviewer"
        assert TOKENS  # the harness's tokens are the ones the API tests use
