"""`python -m chaos` (`make chaos`): a seeded fault-injection run against real processes.

Several service instances in one consumer group, a paced producer, and faults drawn from a seed
(instances killed, terminated, frozen past the session timeout, joining and leaving; the broker
killed; Redis frozen and restarted) while events are still arriving. Afterwards a fresh
`read_committed` reader checks what each processing guarantee promises (`chaos.checker`).

Modules: `schedule` (the faults a seed draws, pure), `checker` (the verdict on records, pure),
`services` (Kafka and Redis through scripts/services.sh), `instances` (service processes),
`producer` (the paced input), `reader` (the topics read back), `run` (the whole run).
"""
