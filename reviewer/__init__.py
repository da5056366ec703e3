"""The review app: people decide what the model was unsure about, and users report wrong tags.

`python -m reviewer` serves, on REVIEWER_PORT (8088): the review page (`/`, one item at a time,
keys 1–4 / Enter / S / U), `/login`, a JSON API (`/api/next`, `/api/labels`, `/api/skip`,
`/api/undo`, `/api/reports`), `/metrics` and `/healthz`. Every decision is a `FeedbackRecord` on
TOPIC_FEEDBACK, keyed by event id; a later record on an event supersedes an earlier one.

How it keeps its promises (details in the modules named):

- One reviewer per item: an item is leased to the reviewer it is shown to, for
  REVIEWER_LEASE_SECONDS; then it goes back to the queue in its old place (`reviewer.queue`).
- No item lost, none shown twice, across restarts: the app reads TOPIC_REVIEW as its own group
  and commits an offset only once every record before it in its partition is decided
  (`PartitionLedger`). Decisions past that prefix are remembered by the feedback topic itself,
  read to its end at startup before the review topic (`reviewer.history`): a re-read record of a
  decided event is passed over and committed.
- Undo writes a `skip` record marked as an undo (`reviewer.feedback`), so the withdrawn label is
  never left as the event's latest decision; the item is the reviewer's again, and their next
  decision is written later and wins. After a restart an undone item is back in the queue, rebuilt
  from that record.
- Reports: the app follows TOPIC_TAGGED into a bounded index (id → event,
  REVIEWER_INDEX_SIZE) so a report naming only an event id becomes a review item, ahead of the
  low-confidence ones, with a `report` record (`reviewer.service`). A report waits across restarts
  the same way an undone item does.
- Every record is written by an idempotent producer with acks=all and flushed before the request
  answers success; a request refused with a 4xx writes nothing (`reviewer.service`).

The queue's state (leases, undo) is in memory: run one instance. A second one in the same group
would share the partitions but not the leases or the undo history.
"""
