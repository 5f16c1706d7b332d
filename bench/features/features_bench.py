"""The handbook's baseline features in pandas and in DuckDB, for `npm run bench:features`.

Loads the transactions CSV once (untimed), then times each engine's feature transform alone
(best of --repeats) and writes its features (float64, one row per transaction in file order,
the columns of FEATURE_NAMES) as .npy files under --out. Prints one JSON object with the timings
and the 1-minute load average before each engine.

Definitions (activities/model-kinds/transaction-risk/features.ts): customer windows hold the
customer's rows with time in (t - w, t], the current row and earlier rows of the same ms
included, later rows of the same ms not; terminal windows hold the terminal's rows with time in
(t - delay - w, t - delay]; a row's tx_fraud is known from its time + delay on, so every fraud
in a terminal window is known; risk = frauds / count, 0 for an empty window.
"""

import argparse
import json
import os
import time

import duckdb
import numpy as np
import pandas as pd

DAY_MS = 86_400_000


def feature_names(windows):
    names = ["tx_amount", "tx_during_weekend", "tx_during_night"]
    for w in windows:
        names += [f"customer_nb_tx_{w}d", f"customer_avg_amount_{w}d"]
    for w in windows:
        names += [f"terminal_nb_tx_{w}d", f"terminal_risk_{w}d"]
    return names


def load(path):
    df = pd.read_csv(path, dtype={"customer_id": "int64", "terminal_id": "int64", "tx_amount": "float64", "tx_fraud": "int8"})
    df["tx_datetime"] = pd.to_datetime(df["tx_datetime"], format="%Y-%m-%d %H:%M:%S")
    # The row's place in the file: ties in time are ordered by it, and outputs come back in it.
    df["row"] = np.arange(len(df), dtype=np.int64)
    return df


class GroupedRolling:
    """Time-based rolling sums and counts of a column within groups of `key`, as arrays in the
    DataFrame's row order ("row"). The rows are sorted by (key, time, row) once, so the group-wise
    results come out in that order and ties in time keep the file order."""

    def __init__(self, df, key, column):
        ordered = df.sort_values([key, "tx_datetime", "row"], kind="stable")
        self.rows = ordered["row"].to_numpy()
        self.groups = ordered.groupby(key, sort=True)
        self.column = column

    def sum_and_count(self, days):
        rolling = self.groups.rolling(f"{days}D", on="tx_datetime")[self.column]
        sums = np.empty(len(self.rows))
        counts = np.empty(len(self.rows))
        sums[self.rows] = rolling.sum().to_numpy()
        counts[self.rows] = rolling.count().to_numpy()
        return sums, counts


def pandas_features(df, windows, delay):
    """The handbook's transformation: time-based rolling windows per customer and per terminal,
    the terminal's delayed window as rolling(delay + w) - rolling(delay). groupby().rolling()
    is the vectorised form of the handbook's groupby().apply() of the same rolling calls."""
    out = {
        "tx_amount": df["tx_amount"].to_numpy(),
        "tx_during_weekend": (df["tx_datetime"].dt.day_of_week >= 5).astype(np.float64).to_numpy(),
        "tx_during_night": (df["tx_datetime"].dt.hour <= 6).astype(np.float64).to_numpy(),
    }
    customers = GroupedRolling(df, "customer_id", "tx_amount")
    for w in windows:
        sums, counts = customers.sum_and_count(w)
        out[f"customer_nb_tx_{w}d"] = counts
        out[f"customer_avg_amount_{w}d"] = sums / counts
    terminals = GroupedRolling(df, "terminal_id", "tx_fraud")
    delayed_frauds, delayed_counts = terminals.sum_and_count(delay)
    for w in windows:
        frauds, counts = terminals.sum_and_count(delay + w)
        nb = counts - delayed_counts
        out[f"terminal_nb_tx_{w}d"] = nb
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"terminal_risk_{w}d"] = np.nan_to_num((frauds - delayed_frauds) / nb, nan=0.0)
    # df is in file order ("row" is the position), and so is every column of `out`.
    return np.column_stack([out[name] for name in feature_names(windows)])


def duckdb_sql(windows, delay, rows):
    """One query, RANGE frames. Customer frames order by a unique key (time, then row) and end at
    CURRENT ROW; their start, "time > t - w", is a per-row offset on that key:
    key = (ms - first ms) * rows + row, so key_i - key_j <= (w_ms - 1) * rows + row_i <=> ms_j > ms_i - w_ms
    (ms are integers). Terminal frames order by ms: (t - delay - w, t - delay] =
    [t - delay - w + 1 ms, t - delay]."""
    d = delay * DAY_MS
    select = [
        "row",
        "tx_amount",
        "CASE WHEN isodow(tx_datetime) >= 6 THEN 1.0::DOUBLE ELSE 0.0::DOUBLE END AS tx_during_weekend",
        "CASE WHEN hour(tx_datetime) <= 6 THEN 1.0::DOUBLE ELSE 0.0::DOUBLE END AS tx_during_night",
    ]
    for w in windows:
        frame = (
            f"(PARTITION BY customer_id ORDER BY tie_key "
            f"RANGE BETWEEN ({w * DAY_MS - 1}::BIGINT * {rows} + row) PRECEDING AND CURRENT ROW)"
        )
        select.append(f"count(*) OVER {frame} AS customer_nb_tx_{w}d")
        select.append(f"avg(tx_amount) OVER {frame} AS customer_avg_amount_{w}d")
    for w in windows:
        frame = f"(PARTITION BY terminal_id ORDER BY ms RANGE BETWEEN {d + w * DAY_MS - 1} PRECEDING AND {d} PRECEDING)"
        select.append(f"count(*) OVER {frame} AS terminal_nb_tx_{w}d")
        select.append(f"coalesce(avg(tx_fraud) OVER {frame}, 0) AS terminal_risk_{w}d")
    return f"CREATE OR REPLACE TABLE features AS SELECT {', '.join(select)} FROM tx ORDER BY row"


def best_of(repeats, run):
    """The shortest of `repeats` timed calls of run(), and the last call's result."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def duckdb_features(con, windows, delay, rows, repeats):
    seconds, _ = best_of(repeats, lambda: con.execute(duckdb_sql(windows, delay, rows)))
    names = feature_names(windows)
    columns = con.execute(f"SELECT {', '.join(names)} FROM features ORDER BY row").fetchnumpy()
    return seconds, np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in names])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--windows", default="1,7,30")
    parser.add_argument("--delay", type=int, default=7)
    parser.add_argument("--engines", default="duckdb,pandas")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    windows = [int(w) for w in args.windows.split(",")]
    engines = args.engines.split(",")

    started = time.perf_counter()
    df = load(args.data)
    report = {"rows": len(df), "loadSeconds": time.perf_counter() - started, "versions": {"pandas": pd.__version__, "duckdb": duckdb.__version__, "numpy": np.__version__}, "engines": {}}

    if "duckdb" in engines:
        con = duckdb.connect()
        con.execute(f"SET threads = {args.threads}")
        con.register("raw", df)
        first_ms = int(df["tx_datetime"].min().value // 1_000_000)
        # Untimed: the table in DuckDB's own storage, with epoch ms and the tie key.
        con.execute(
            "CREATE TABLE tx AS SELECT row, customer_id, terminal_id, tx_amount, tx_fraud, tx_datetime, "
            f"epoch_ms(tx_datetime) AS ms, (epoch_ms(tx_datetime) - {first_ms}) * {len(df)} + row AS tie_key FROM raw"
        )
        con.unregister("raw")
        load1 = os.getloadavg()[0]
        seconds, features = duckdb_features(con, windows, args.delay, len(df), args.repeats)
        np.save(os.path.join(args.out, "duckdb.npy"), features)
        report["engines"]["duckdb"] = {"seconds": seconds, "threads": args.threads, "load1": load1}

    if "pandas" in engines:
        load1 = os.getloadavg()[0]
        seconds, features = best_of(args.repeats, lambda: pandas_features(df, windows, args.delay))
        np.save(os.path.join(args.out, "pandas.npy"), features)
        report["engines"]["pandas"] = {"seconds": seconds, "threads": 1, "load1": load1}

    print(json.dumps(report))


if __name__ == "__main__":
    main()
