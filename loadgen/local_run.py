"""`make run`: create topics, start the service and the reviewer app, replay a stream that goes
down every route (`loadgen.demo`), say where events went, and leave both running until Ctrl-C
(which stops them cleanly)."""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from consumer.config import Settings
from consumer.metrics import OUTCOMES, scrape, total
from consumer.topics import ensure_topics
from loadgen.demo import demo_events
from loadgen.replay import producer, publish
from reviewer.config import parse_tokens
from training.data import dataset_location, load

REVIEWER_PORT = int(os.environ.get("REVIEWER_PORT", "8088"))


def _answers(url: str, ok: Callable[[bytes], bool] = lambda body: True) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200 and ok(r.read())
    except Exception:
        return False


def _wait(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> bool:
    deadline = time.monotonic() + 60
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"{what} failed to start; see its logs above", file=sys.stderr)
            return False
        time.sleep(0.3)
    return True


def _demo_token() -> tuple[str, str]:
    """REVIEWER_TOKENS as configured (and its first token), or a fresh token for a reviewer
    called `demo`."""
    configured = os.environ.get("REVIEWER_TOKENS", "")
    for token in parse_tokens(configured):
        return configured, token
    token = secrets.token_urlsafe(12)
    return f"{token}:demo", token


def main() -> int:
    settings = Settings()
    ensure_topics(settings.kafka_bootstrap_servers, settings.topics, partitions=6, feedback=True)
    port = settings.metrics_port
    tokens, token = _demo_token()
    reviewer_env = {**os.environ, "REVIEWER_TOKENS": tokens, "REVIEWER_PORT": str(REVIEWER_PORT)}
    # Own sessions: Ctrl-C reaches only this process, which passes it on once. A second SIGINT
    # would make uvicorn skip the reviewer app's clean shutdown.
    service = subprocess.Popen(
        [sys.executable, "-m", "consumer"], env=os.environ.copy(), start_new_session=True
    )
    processes = [service]
    try:
        reviewer = subprocess.Popen(
            [sys.executable, "-m", "reviewer"], env=reviewer_env, start_new_session=True
        )
        processes.append(reviewer)
        return _demo(settings, port, token, processes)
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _demo(
    settings: Settings, port: int, token: str, processes: list[subprocess.Popen[bytes]]
) -> int:
    """Wait for both, replay the stream, report, and run until a signal stops them."""
    service, reviewer = processes
    started = _wait(
        service,
        lambda: _answers(
            f"http://127.0.0.1:{port}/healthz", lambda b: b'"assigned_partitions": 0' not in b
        ),
        "the service",
    ) and _wait(
        reviewer, lambda: _answers(f"http://127.0.0.1:{REVIEWER_PORT}/healthz"), "the reviewer app"
    )
    if not started:
        return 1
    before = {o: total(scrape(port), "tagger_events_total", outcome=o) for o in OUTCOMES}

    examples = load(dataset_location()).examples
    stream = demo_events(examples, id_prefix=f"run{int(time.time())}")
    sent = publish(
        producer(settings.kafka_bootstrap_servers), settings.topic_input, stream, len(stream)
    )

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        samples = scrape(port)
        if total(samples, "tagger_events_total") - sum(before.values()) >= sent:
            break
        time.sleep(0.3)
    print(
        f"\nreplayed {sent} events ({len(examples)} rows of {dataset_location()}, content it never "
        "saw, messy copies, malformed records); where they went:"
    )
    for outcome in OUTCOMES:  # each outcome names its Topics field
        n = total(samples, "tagger_events_total", outcome=outcome) - before[outcome]
        print(f"  {outcome:<12} {int(n):>6}  → {getattr(settings.topics, outcome)}")
    print("  (content seen in an earlier run within the dedup retention counts as duplicate)")
    print(
        f"\nreview the uncertain ones at http://localhost:{REVIEWER_PORT}/login with the token "
        f"{token}\n(keys 1-4 choose a tag, Enter confirms the model's, S skips, U undoes; "
        f"decisions go to {settings.topics.feedback}).\n"
        f"service metrics at http://localhost:{port}/metrics. Ctrl-C stops both cleanly."
    )

    def forward(signum: int, _frame: object) -> None:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    codes = [p.wait() for p in processes]
    print(f"service exited with {codes[0]}, reviewer app with {codes[1]}")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
