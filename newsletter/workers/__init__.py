"""Delivery workers and schedules: one campaign sent by many processes on many hosts.

On PostgreSQL a campaign is cut into batches of deliveries and each batch
is a procrastinate job (:mod:`.jobs`, :mod:`.batches`); ``newsletter worker``
processes take them (:mod:`.worker`) and send each with the sender
process's dispatcher, confined to the batch (:mod:`.batchrun`,
:mod:`.ledger`). The delivery log stays the one truth about every delivery;
a worker that dies loses its batch to another, and what it had in flight
becomes ``unknown``, exactly as after a crash of ``campaigns send``. The
rate limits and the connection count of a relay hold for all workers
together (:mod:`.pacing`). Schedules (:mod:`.schedule`) start a draft at a
given time, on PostgreSQL as a deferred job, on SQLite by a polling worker.
"""
