"""Virtuous gifts on Fivetran's Python Connector SDK 2.13.1, written the way seed 002 writes its Virtuous
connector: an ID cursor (`Gift Id > last`, sorted by id), take 1000 shrinking 1000→500→250→50→10→1 on
failure, 8 parallel requests on a ThreadPoolExecutor, `requests`, a checkpoint after every batch of pages.

It is the Python side of `cargo bench --bench vs_python_sdk`, which starts it as
`python connector.py PORT` (the SDK's production gRPC server, `Connector.run`) and drives it with the same
draining client and the same simulator as the Rust server. Not a product: a fair, idiomatic baseline.
"""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests
from fivetran_connector_sdk import Connector
from fivetran_connector_sdk import Operations as op

TAKE_SIZES = [1000, 500, 250, 50, 10, 1]
PARALLEL_REQUESTS = 8
TIMEOUT_SECONDS = 120
_local = threading.local()


# --- api: raw HTTP, raw JSON, no retries ------------------------------------------------------------
def _session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def query_gifts(configuration: dict, after_id: int, skip: int, take: int) -> list:
    """One page of gifts with id > after_id, by id ascending."""
    body = {
        "groups": [{"conditions": [{"parameter": "Gift Id", "operator": "GreaterThan", "value": str(after_id)}]}],
        "sortBy": "Gift Id",
        "descending": False,
        "includeArchived": True,
    }
    response = _session().post(
        configuration["base_url"] + "/api/Gift/Query",
        params={"skip": skip, "take": take},
        json=body,
        headers={"Authorization": "Bearer " + configuration["api_key"]},
        timeout=TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    return response.json()["list"]


# --- models: pure transforms ------------------------------------------------------------------------
def gift_row(record: dict) -> dict:
    amount = record.get("amount")
    gift_date = record.get("giftDate")
    contact_id = record.get("contactId")
    return {
        "id": str(record["id"]),
        "contact_id": None if contact_id is None else str(contact_id),
        "gift_date": None if gift_date is None else gift_date[:10],
        "amount": None if amount is None else f"{Decimal(str(amount)):.2f}",
        "modified_date_time_utc": record.get("modifiedDateTimeUtc"),
    }


# --- sync: ID cursor, adaptive take sizes, parallel pages, checkpoints ------------------------------
def fetch_adaptive(configuration: dict, after_id: int, page: int, take_index: int) -> list:
    """Page `page` of size TAKE_SIZES[take_index] after the cursor; on failure, the same range in
    smaller pages."""
    take = TAKE_SIZES[take_index]
    try:
        return query_gifts(configuration, after_id, page * take, take)
    except requests.RequestException:
        if take_index + 1 == len(TAKE_SIZES):
            raise
        smaller = TAKE_SIZES[take_index + 1]
        records = []
        for part in range(take // smaller):
            chunk = query_gifts(configuration, after_id, page * take + part * smaller, smaller)
            records.extend(chunk)
            if len(chunk) < smaller:
                break
        return records


def update(configuration: dict, state: dict):
    cursor = int(state.get("gifts_last_id", 0))
    with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
        while True:
            futures = [pool.submit(fetch_adaptive, configuration, cursor, page, 0) for page in range(PARALLEL_REQUESTS)]
            done = False
            for future in futures:
                records = future.result()
                for record in records:
                    op.upsert(table="gifts", data=gift_row(record))
                    cursor = max(cursor, int(record["id"]))
                if len(records) < TAKE_SIZES[0]:
                    done = True
            op.checkpoint(state={"gifts_last_id": cursor})
            if done:
                return


def schema(configuration: dict):
    return [{
        "table": "gifts",
        "primary_key": ["id"],
        "columns": {
            "id": "STRING",
            "contact_id": "STRING",
            "gift_date": "NAIVE_DATE",
            "amount": {"type": "DECIMAL", "precision": 18, "scale": 2},
            "modified_date_time_utc": "UTC_DATETIME",
        },
    }]


connector = Connector(update=update, schema=schema)

if __name__ == "__main__":
    connector.run(port=int(sys.argv[1]))
