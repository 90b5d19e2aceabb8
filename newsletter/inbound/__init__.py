"""Inbound mail: bounces, complaints, auto-replies and mailto unsubscribes.

The pipeline, one module per job: ``sources`` (Maildir, mbox) and ``imap``
read messages; ``classify`` (with ``report`` for RFC 3464/5965 parts,
``detectors`` for the non-DSN formats, ``autoreply``, ``status`` and
``reasons``) says what a message is; ``attribute`` finds whose delivery it
was; ``policy`` decides and records a ``Bounce`` row; ``process`` runs it all, crash-safe;
``review`` lists and undoes; ``unsubscribe`` acts on List-Unsubscribe
mails; ``webhooks`` turns relays' HTTP events into the same decisions.
"""
