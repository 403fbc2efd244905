"""Scratch PostgreSQL databases for the benchmarks: create one, point Django at it, drop it."""

import argparse
import os

import dj_database_url
import psycopg


def admin_connection(base_url: str) -> psycopg.Connection:
    """An autocommit connection to the server of `base_url` (its database, else postgres)."""
    config = dj_database_url.parse(base_url)
    return psycopg.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname=config["NAME"] or "postgres",
        autocommit=True,
    )


def recreate_database(base_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `base_url`; its URL."""
    drop_database(base_url, name)
    with admin_connection(base_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name


def drop_database(base_url: str, name: str) -> None:
    # FORCE: a server the benchmark started may still hold connections.
    with admin_connection(base_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(database_url: str | None, var_dir: str | None = None) -> None:
    """Set Django up with the product's settings, and migrate: on `database_url`, or on the
    embedded SQLite under `var_dir` (a temporary folder of the benchmark's) when it is None."""
    if var_dir is not None:
        os.environ["VAR_DIR"] = var_dir
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def page_bench_main(description: str, name: str, run, reuse_help: str) -> None:
    """The command line of a benchmark that seeds a scratch PostgreSQL database `name` on
    the server of DATABASE_URL and times pages on it: --loads (loads per page), --keep (leave
    the database), --name, --reuse (a database a --keep run left); `run(url, loads, reuse)`
    does the work. The database is dropped afterwards unless --keep."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--loads", type=int, default=9)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--name", default=name, help="the scratch database's name")
    parser.add_argument("--reuse", action="store_true", help=reuse_help)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    url = base.rsplit("/", 1)[0] + "/" + args.name
    if not args.reuse:
        url = recreate_database(base, args.name)
    try:
        run(url, args.loads, args.reuse)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(base, args.name)
