"""The languages a list's sign-up form offers.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

``mailing_list.languages``: BCP 47 tags separated by commas (``fr,zh-Hans,ar``),
the choices of the list's sign-up form; NULL offers every language with a
catalog. A plain column, not a table: the form reads it with the list, and
no query ever looks for lists by language. Hand-written and frozen: it does
not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.add_column(sa.Column("languages", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.drop_column("languages")
