"""The message stage: one template per campaign, per-recipient bytes, DKIM.

``compose`` builds the MIME template once and substitutes each recipient's
values into it; ``placeholders`` is the contract with ``render`` (which writes
the placeholder tokens into the HTML and text); ``qp`` and ``dkim`` are the
encodings. It never imports ``render``: a sending process must not load the
MJML chain.
"""
