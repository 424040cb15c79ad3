"""sources and the weekly cycle

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:03:23.683582
"""
from alembic import op
import sqlalchemy as sa
import newsletter.db.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cycle_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('compose_day', sa.String(length=3), nullable=False),
    sa.Column('compose_time', sa.String(length=5), nullable=False),
    sa.Column('send_day', sa.String(length=3), nullable=False),
    sa.Column('send_time', sa.String(length=5), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.Enum('auto', 'approve', 'local-time', name='schedule_mode', native_enum=False, length=20), nullable=False),
    sa.Column('updated_at', newsletter.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('feed', 'folder', name='source_kind', native_enum=False, length=20), nullable=False),
    sa.Column('location', sa.String(length=1000), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('interval_minutes', sa.Integer(), nullable=False),
    sa.Column('created_at', newsletter.db.base.UTCDateTime(), nullable=False),
    sa.Column('last_polled_at', newsletter.db.base.UTCDateTime(), nullable=True),
    sa.Column('last_ok_at', newsletter.db.base.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('location')
    )
    op.create_table('weekly_cycle',
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('state', sa.Enum('composed', 'awaiting_approval', 'sending', 'sent', 'empty', 'not_approved', 'missed', name='cycle_state', native_enum=False, length=20), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=True),
    sa.Column('composed_at', newsletter.db.base.UTCDateTime(), nullable=True),
    sa.Column('send_at', newsletter.db.base.UTCDateTime(), nullable=True),
    sa.Column('dispatched_at', newsletter.db.base.UTCDateTime(), nullable=True),
    sa.Column('waves_done', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('updated_at', newsletter.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('week')
    )
    # Plain ADD COLUMN, not batch mode: rebuilding `issue` on SQLite would drop and re-create
    # the parent of `delivery`, and ON DELETE CASCADE would take the deliveries with it.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE article ADD COLUMN source_id INTEGER REFERENCES source (id) ON DELETE SET NULL')
    else:
        op.add_column('article', sa.Column('source_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_article_source', 'article', 'source', ['source_id'], ['id'], ondelete='SET NULL')
    op.add_column('issue', sa.Column('approved_at', newsletter.db.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('issue') as batch_op:
        batch_op.drop_column('approved_at')
    with op.batch_alter_table('article') as batch_op:
        batch_op.drop_column('source_id')
    op.drop_table('weekly_cycle')
    op.drop_table('source')
    op.drop_table('cycle_schedule')
