"""ClickHouse: client factory, migrations, batch writers, query endpoint."""
