"""Benchmark suite: `python -m bench` (full) or `python -m bench --quick`.

Runs against the real local Kafka broker and Redis named by KAFKA_BOOTSTRAP_SERVERS / REDIS_URL and
writes a JSON report (BENCH_OUT, default .bench/latest.json), a latency plot next to it, and prints
Markdown tables.
"""
