"""`make run`: create topics, start the service, replay the data set through it, summarise, and
leave the service running until Ctrl-C (which stops it cleanly)."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from consumer.config import Settings
from consumer.metrics import OUTCOMES, scrape, total
from consumer.topics import ensure_topics
from loadgen.replay import generate_events, producer, publish
from training.data import dataset_location, load


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status == 200 and b'"assigned_partitions": 0' not in r.read()
    except Exception:
        return False


def main() -> int:
    settings = Settings()
    ensure_topics(settings.kafka_bootstrap_servers, settings.topics, partitions=6)
    service = subprocess.Popen([sys.executable, "-m", "consumer"], env=os.environ.copy())
    port = settings.metrics_port
    deadline = time.monotonic() + 60
    while not _healthy(port):
        if service.poll() is not None or time.monotonic() > deadline:
            print("service failed to start; see its logs above", file=sys.stderr)
            service.kill()
            return 1
        time.sleep(0.3)
    before = total(scrape(port), "tagger_events_total")

    examples = load(dataset_location()).examples
    sent = publish(
        producer(settings.kafka_bootstrap_servers),
        settings.topic_input,
        generate_events(examples, id_prefix=f"run{int(time.time())}"),
        len(examples),
    )

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        samples = scrape(port)
        if total(samples, "tagger_events_total") - before >= sent:
            break
        time.sleep(0.3)
    print(f"\nreplayed {sent} events from {dataset_location()}; where they went:")
    for outcome in OUTCOMES:  # each outcome names its Topics field
        n = total(samples, "tagger_events_total", outcome=outcome)
        print(f"  {outcome:<12} {int(n):>6}  → {getattr(settings.topics, outcome)}")
    for s in sorted(samples, key=lambda s: sorted(s.labels.items())):
        if s.name == "tagger_tags_total" and s.value:
            print(f"    {s.labels['route']:<7} {s.labels['tag']:<28} {int(s.value):>6}")
    print("  (content seen in an earlier run within the dedup retention counts as duplicate)")
    print(
        f"\nservice running; metrics at http://localhost:{port}/metrics, health at "
        f"http://localhost:{port}/healthz. Ctrl-C stops it cleanly."
    )
    signal.signal(signal.SIGINT, lambda *_: service.send_signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: service.send_signal(signal.SIGTERM))
    code = service.wait()
    print(f"service exited with {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
