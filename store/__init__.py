"""SQLModel tables, sessions, Alembic migrations, the raw archive, the JSON export."""
