"""SQLite persistence of a daemon: what it saw on chain, what it decided, what it sent.

One database per daemon (one account). WAL mode; every write is its own transaction, so a kill -9
leaves either the old or the new row, never half of it. Transactions follow a write-ahead rule:

    signed  -> the raw signed transaction (and its hash and nonce) is stored BEFORE broadcasting
    sent    -> broadcast accepted by the node
    mined   -> receipt seen (status 1)            | reverted -> receipt with status 0
    dropped -> the nonce was taken by another transaction and ours never mined

A restarted daemon re-broadcasts every `signed`/`sent` transaction byte for byte (same hash, same
nonce), so nothing is lost and nothing is sent twice. Each transaction has a unique `key` naming the
decision (e.g. "midpoint:7:1024"): a decision is taken at most once.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    request_id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL, requester TEXT NOT NULL,
    fee TEXT NOT NULL, input BLOB NOT NULL, initial_hash BLOB NOT NULL, block INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open', posts INTEGER NOT NULL DEFAULT 0, note TEXT
);
CREATE TABLE IF NOT EXISTS results (
    result_id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL, operator TEXT NOT NULL,
    final_hash BLOB NOT NULL, steps INTEGER NOT NULL, deadline INTEGER NOT NULL, output BLOB NOT NULL,
    block INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending', verdict TEXT
);
CREATE TABLE IF NOT EXISTS games (
    game_id INTEGER PRIMARY KEY, result_id INTEGER NOT NULL, challenger TEXT NOT NULL,
    role TEXT NOT NULL, steps INTEGER NOT NULL, block INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'active', winner TEXT, reason TEXT
);
CREATE TABLE IF NOT EXISTS moves (
    game_id INTEGER NOT NULL, seq INTEGER NOT NULL, mover TEXT NOT NULL, kind TEXT NOT NULL,
    lo INTEGER NOT NULL, hi INTEGER NOT NULL, mid INTEGER NOT NULL, mid_hash BLOB NOT NULL,
    block INTEGER NOT NULL, tx_hash BLOB NOT NULL, PRIMARY KEY (game_id, seq)
);
CREATE TABLE IF NOT EXISTS txs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, function TEXT NOT NULL,
    sender TEXT NOT NULL, nonce INTEGER NOT NULL, raw BLOB NOT NULL, tx_hash BLOB NOT NULL,
    status TEXT NOT NULL, gas_used INTEGER, fee_paid TEXT, block INTEGER, error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_status ON txs (status);
CREATE TABLE IF NOT EXISTS game_nodes (
    game_id INTEGER PRIMARY KEY, node INTEGER NOT NULL, initial_hash BLOB NOT NULL,
    final_hash BLOB NOT NULL, steps INTEGER NOT NULL, block INTEGER NOT NULL
);
"""

OPEN_TX = ("signed", "sent")


class StoreError(RuntimeError):
    """The database is unusable (newer schema, locked by another daemon, ...)."""


@dataclass(frozen=True)
class TxRecord:
    id: int
    key: str
    function: str
    sender: str
    nonce: int
    raw: bytes
    tx_hash: bytes
    status: str
    gas_used: int | None
    fee_paid: int | None
    block: int | None
    error: str | None


def _tx(row: sqlite3.Row) -> TxRecord:
    fee = row["fee_paid"]
    return TxRecord(row["id"], row["key"], row["function"], row["sender"], row["nonce"], bytes(row["raw"]),
                    bytes(row["tx_hash"]), row["status"], row["gas_used"],
                    int(fee) if fee is not None else None, row["block"], row["error"])


class Store:
    """The daemon's database. `path=":memory:"` for throwaway use; a file path for real daemons."""

    def __init__(self, path: str | Path = ":memory:", *, lock: bool = True) -> None:
        self.path = str(path)
        self._lock_file = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if lock:
                self._take_lock()
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def _take_lock(self) -> None:
        handle = open(self.path + ".lock", "w")  # held for the store's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StoreError(f"{self.path} is in use by another daemon (one database per running daemon; "
                             "fix: stop the other process or give this one its own --db)") from None
        self._lock_file = handle

    def _migrate(self) -> None:
        self.db.executescript(SCHEMA)
        version = self.meta("schema_version")
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}; this optimist understands "
                             f"up to {SCHEMA_VERSION} (fix: upgrade optimist or use a new --db)")

    def close(self) -> None:
        self.db.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- meta ----------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # ---- event cursor --------------------------------------------------------------------------
    def cursor(self) -> int | None:
        """The last block whose events were fully ingested."""
        raw = self.meta("cursor")
        return None if raw is None else int(raw)

    def set_cursor(self, block: int) -> None:
        self.set_meta("cursor", str(block))

    # ---- requests and results ------------------------------------------------------------------
    def add_request(self, request_id: int, model_id: int, requester: str, fee: int, input_bytes: bytes,
                    initial_hash: bytes, block: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO requests (request_id, model_id, requester, fee, input, "
                        "initial_hash, block) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (request_id, model_id, requester, str(fee), input_bytes, initial_hash, block))

    def request(self, request_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()

    def requests(self, status: str | None = None) -> list[sqlite3.Row]:
        if status is None:
            return self.db.execute("SELECT * FROM requests ORDER BY request_id").fetchall()
        return self.db.execute("SELECT * FROM requests WHERE status = ? ORDER BY request_id",
                               (status,)).fetchall()

    def set_request_status(self, request_id: int, status: str, note: str | None = None) -> None:
        self.db.execute("UPDATE requests SET status = ?, note = COALESCE(?, note) WHERE request_id = ?",
                        (status, note, request_id))

    def count_post(self, request_id: int) -> None:
        self.db.execute("UPDATE requests SET posts = posts + 1 WHERE request_id = ?", (request_id,))

    def add_result(self, result_id: int, request_id: int, operator: str, final_hash: bytes, steps: int,
                   deadline: int, output: bytes, block: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO results (result_id, request_id, operator, final_hash, steps, "
                        "deadline, output, block) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (result_id, request_id, operator, final_hash, steps, deadline, output, block))

    def result(self, result_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM results WHERE result_id = ?", (result_id,)).fetchone()

    def results(self, status: str | None = None) -> list[sqlite3.Row]:
        if status is None:
            return self.db.execute("SELECT * FROM results ORDER BY result_id").fetchall()
        return self.db.execute("SELECT * FROM results WHERE status = ? ORDER BY result_id",
                               (status,)).fetchall()

    def set_result_status(self, result_id: int, status: str) -> None:
        self.db.execute("UPDATE results SET status = ? WHERE result_id = ?", (status, result_id))

    def set_verdict(self, result_id: int, verdict: str) -> None:
        """Our own judgement of a result: 'agree', 'disagree', 'unknown-model', ..."""
        self.db.execute("UPDATE results SET verdict = ? WHERE result_id = ?", (verdict, result_id))

    # ---- games and moves -----------------------------------------------------------------------
    def add_game(self, game_id: int, result_id: int, challenger: str, role: str, steps: int,
                 block: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO games (game_id, result_id, challenger, role, steps, block) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (game_id, result_id, challenger, role, steps, block))

    def game(self, game_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM games WHERE game_id = ?", (game_id,)).fetchone()

    def games(self, status: str | None = None) -> list[sqlite3.Row]:
        if status is None:
            return self.db.execute("SELECT * FROM games ORDER BY game_id").fetchall()
        return self.db.execute("SELECT * FROM games WHERE status = ? ORDER BY game_id", (status,)).fetchall()

    def end_game(self, game_id: int, status: str, winner: str | None, reason: str | None) -> None:
        self.db.execute("UPDATE games SET status = ?, winner = COALESCE(?, winner), "
                        "reason = COALESCE(?, reason) WHERE game_id = ?",
                        (status, winner, reason, game_id))

    def add_move(self, game_id: int, mover: str, kind: str, lo: int, hi: int, mid: int, mid_hash: bytes,
                 block: int, tx_hash: bytes) -> None:
        with self.transaction() as db:
            seq = db.execute("SELECT COUNT(*) FROM moves WHERE game_id = ?", (game_id,)).fetchone()[0]
            db.execute("INSERT INTO moves VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (game_id, seq, mover, kind, lo, hi, mid, mid_hash, block, tx_hash))

    def moves(self, game_id: int) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM moves WHERE game_id = ? ORDER BY seq", (game_id,)).fetchall()

    def set_game_node(self, game_id: int, node: int, initial_hash: bytes, final_hash: bytes, steps: int,
                      block: int) -> None:
        """A graph game entered phase 2 on `node` (NodeEntered): what its step game is about."""
        self.db.execute("INSERT OR IGNORE INTO game_nodes VALUES (?, ?, ?, ?, ?, ?)",
                        (game_id, node, initial_hash, final_hash, steps, block))

    def game_node(self, game_id: int) -> sqlite3.Row | None:
        """The node a graph game's phase 2 is about (None while in phase 1, or not a graph game)."""
        return self.db.execute("SELECT * FROM game_nodes WHERE game_id = ?", (game_id,)).fetchone()

    # ---- transactions --------------------------------------------------------------------------
    def tx(self, key: str) -> TxRecord | None:
        row = self.db.execute("SELECT * FROM txs WHERE key = ?", (key,)).fetchone()
        return None if row is None else _tx(row)

    def txs(self, status: str | tuple[str, ...] | None = None) -> list[TxRecord]:
        if status is None:
            rows = self.db.execute("SELECT * FROM txs ORDER BY id").fetchall()
        else:
            statuses = (status,) if isinstance(status, str) else status
            marks = ",".join("?" * len(statuses))
            rows = self.db.execute(f"SELECT * FROM txs WHERE status IN ({marks}) ORDER BY id",
                                   statuses).fetchall()
        return [_tx(r) for r in rows]

    def record_signed(self, key: str, function: str, sender: str, nonce: int, raw: bytes,
                      tx_hash: bytes) -> TxRecord:
        """Write-ahead: the signed transaction, before it is broadcast. Replaces a dropped or reverted
        attempt (the decision is being taken again)."""
        now = time.time()
        with self.transaction() as db:
            old = db.execute("SELECT status FROM txs WHERE key = ?", (key,)).fetchone()
            if old is not None and old["status"] not in ("dropped", "reverted"):
                raise StoreError(f"transaction {key!r} already exists with status {old['status']}")
            db.execute("UPDATE txs SET key = key || '#' || id WHERE key = ?", (key,))   # keep its gas
            db.execute("INSERT INTO txs (key, function, sender, nonce, raw, tx_hash, status, created_at, "
                       "updated_at) VALUES (?, ?, ?, ?, ?, ?, 'signed', ?, ?)",
                       (key, function, sender, nonce, raw, tx_hash, now, now))
        record = self.tx(key)
        assert record is not None
        return record

    def update_tx(self, key: str, status: str, *, gas_used: int | None = None, fee_paid: int | None = None,
                  block: int | None = None, error: str | None = None) -> None:
        self.db.execute("UPDATE txs SET status = ?, gas_used = COALESCE(?, gas_used), "
                        "fee_paid = COALESCE(?, fee_paid), block = COALESCE(?, block), "
                        "error = COALESCE(?, error), updated_at = ? WHERE key = ?",
                        (status, gas_used, None if fee_paid is None else str(fee_paid), block, error,
                         time.time(), key))

    def next_nonce(self, sender: str) -> int | None:
        """One past the highest nonce this store signed for `sender` (None if it never signed)."""
        row = self.db.execute("SELECT MAX(nonce) FROM txs WHERE sender = ? AND status != 'dropped'",
                              (sender,)).fetchone()
        return None if row[0] is None else row[0] + 1

    def gas_summary(self) -> dict[str, dict[str, int]]:
        """Per function: transactions mined, gas used and wei paid for gas."""
        out: dict[str, dict[str, int]] = {}
        for r in self.db.execute("SELECT function, gas_used, fee_paid FROM txs "
                                 "WHERE status IN ('mined', 'reverted')"):
            entry = out.setdefault(r["function"], {"count": 0, "gas": 0, "fee": 0})
            entry["count"] += 1
            entry["gas"] += r["gas_used"] or 0
            entry["fee"] += int(r["fee_paid"] or 0)
        return out
